import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FASHION_DIR, write_celeba_layout, write_cifar10_layout, write_mnist_layout
from dcgan.data import available_offline, load_dataset, read_idx
from dcgan.errors import DataError


def test_fashion_mnist_system_copy_is_read_in_place(fashion):
    assert fashion.images.shape == (60000, 1, 28, 28) and fashion.images.dtype == torch.uint8
    assert fashion.labels.shape == (60000,) and set(fashion.labels.unique().tolist()) == set(range(10))
    assert fashion.source == str(FASHION_DIR)
    assert fashion.class_names[0] == "T-shirt/top"
    # Real images: the mean pixel of Fashion-MNIST is about 72.9 / 255.
    assert 70 < fashion.images.float().mean().item() < 76


def test_fashion_mnist_test_split(tmp_path):
    test = load_dataset("fashion-mnist", tmp_path, 28, 1, split="test", download=False)
    assert test.images.shape == (10000, 1, 28, 28)


def test_resize_and_channels_are_done_once_into_memory(fashion):
    from dcgan.data import to_format

    out = to_format(fashion.images[:10], 64, 3)
    assert out.shape == (10, 3, 64, 64) and out.dtype == torch.uint8
    assert torch.equal(out[:, 0], out[:, 2])  # grey expanded to RGB


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_family_from_data_dir_in_torchvision_layout(tmp_path, name, folder, gz):
    images, labels = write_mnist_layout(tmp_path / "data", folder, gz=gz)
    data = load_dataset(name, tmp_path / "data", 32, 1, download=False)
    assert data.images.shape == (300, 1, 32, 32)
    assert torch.equal(data.labels, torch.from_numpy(labels.astype(np.int64)))
    assert str(tmp_path / "data" / folder) in data.source
    native = load_dataset(name, tmp_path / "data", 28, 1, download=False)
    assert np.array_equal(native.images[:, 0].numpy(), images)


def test_idx_reader_rejects_foreign_files(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(DataError, match="not a readable IDX file"):
        read_idx(bad)


def test_cifar10_from_data_dir_in_torchvision_layout(tmp_path):
    rows = write_cifar10_layout(tmp_path / "data")
    data = load_dataset("cifar10", tmp_path / "data", 32, 3, download=False)
    assert data.images.shape == (200, 3, 32, 32)
    assert np.array_equal(data.images.numpy(), rows)
    assert data.class_names[0] == "airplane" and data.labels.shape == (200,)
    grey = load_dataset("cifar10", tmp_path / "data", 16, 1, download=False)
    assert grey.images.shape == (200, 1, 16, 16)


def test_celeba_from_data_dir_in_torchvision_layout(tmp_path):
    write_celeba_layout(tmp_path / "data")
    data = load_dataset("celeba", tmp_path / "data", 64, 3, download=False)
    assert data.images.shape == (12, 3, 64, 64) and data.labels is None
    # Decoded once, then cached: the second load reads the cache.
    assert any((tmp_path / "data" / ".dcgan-cache").iterdir())
    again = load_dataset("celeba", tmp_path / "data", 64, 3, download=False)
    assert torch.equal(again.images, data.images)


def _save(path, size=(40, 30), mode="RGB", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 50, 200)).save(path)


def test_folder_of_images_recursively(tmp_path):
    _save(tmp_path / "pics" / "a.png")
    _save(tmp_path / "pics" / "deep" / "er" / "b.jpg", mode="L")
    _save(tmp_path / "pics" / "c.webp", size=(100, 20))
    (tmp_path / "pics" / "notes.txt").write_text("not an image")
    data = load_dataset(f"folder:{tmp_path / 'pics'}", tmp_path / "data", 32, 3)
    assert data.images.shape == (3, 3, 32, 32) and data.labels is None


def test_class_folders_give_labels(tmp_path):
    for cls in ("cats", "dogs"):
        for i in range(3):
            _save(tmp_path / "pets" / cls / f"{i}.png", value=40 * i)
    data = load_dataset(f"folder:{tmp_path / 'pets'}", tmp_path / "data", 16, 1)
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_unreadable_files_are_skipped_and_counted(tmp_path):
    _save(tmp_path / "pics" / "good.png")
    (tmp_path / "pics" / "broken.png").write_bytes(b"\x89PNG truncated")
    data = load_dataset(f"folder:{tmp_path / 'pics'}", tmp_path / "data", 16, 3)
    assert len(data) == 1 and data.skipped == 1
    broken = str(tmp_path / "pics" / "broken.png")
    assert data.skipped_note() == f"1 unreadable image file was skipped: {broken}"  # which one, to mend or remove
    cached = load_dataset(f"folder:{tmp_path / 'pics'}", tmp_path / "data", 16, 3)  # from the decode cache
    assert cached.skipped_note() == data.skipped_note()


def test_16_bit_images_keep_their_tones(tmp_path):
    """A 16-bit grey PNG (values to 65535) reads as the 8-bit image it shows, not clipped to white."""
    ramp = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)  # 0..65535
    (tmp_path / "deep").mkdir()
    Image.fromarray(ramp).save(tmp_path / "deep" / "ramp.png")
    assert Image.open(tmp_path / "deep" / "ramp.png").mode.startswith("I")
    data = load_dataset(f"folder:{tmp_path / 'deep'}", tmp_path / "data", 16, 1)
    assert torch.equal(data.images[0, 0], torch.arange(256, dtype=torch.uint8).reshape(16, 16))


@pytest.mark.parametrize("setup,words", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "no images in"),
    (lambda p: (p.mkdir(), (p / "x.png").write_bytes(b"garbage")), "could be read"),
])
def test_bad_folders_give_one_clear_error(tmp_path, setup, words):
    folder = tmp_path / "pics"
    setup(folder)
    with pytest.raises(DataError, match=words):
        load_dataset(f"folder:{folder}", tmp_path / "data", 32, 3)


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_DATA_HOME", str(tmp_path / "home"))
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", tmp_path / "data", 32, 3, download=False)
    message = str(err.value)
    assert "Ways to get it" in message and "`dcgan fetch cifar10`" in message and "put it in data_dir" in message
    assert str(tmp_path / "home") in message and "\n" not in message


def test_missing_dataset_when_the_download_fails(tmp_path, monkeypatch):
    # No internet here: torchvision's real download path is tried and fails; the error still teaches.
    monkeypatch.setenv("DCGAN_DATA_HOME", str(tmp_path / "home"))
    with pytest.raises(DataError, match="Ways to get it: `dcgan fetch mnist`") as err:
        load_dataset("mnist", tmp_path / "data", 28, 1)
    assert "\n" not in str(err.value)  # torchvision's several-line error becomes a clause of one line


def test_available_offline_lists_where_each_dataset_is(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_DATA_HOME", str(tmp_path / "home"))
    write_cifar10_layout(tmp_path / "data")
    found = available_offline(tmp_path / "data")
    assert found["fashion-mnist"] == str(FASHION_DIR)
    assert found["cifar10"].endswith("cifar-10-batches-py")
    assert found["celeba"] is None and found["mnist"] is None


def test_the_data_home_is_searched_after_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_DATA_HOME", str(tmp_path / "home"))
    home_images, _ = write_mnist_layout(tmp_path / "home", "MNIST", n=20)
    data = load_dataset("mnist", tmp_path / "data", 28, 1, download=False)
    assert np.array_equal(data.images[:, 0].numpy(), home_images)
    assert data.source == str(tmp_path / "home" / "MNIST" / "raw")
    assert available_offline(tmp_path / "data")["mnist"] == str(tmp_path / "home" / "MNIST")
    write_mnist_layout(tmp_path / "data", "MNIST", n=30)  # --data-dir wins
    assert len(load_dataset("mnist", tmp_path / "data", 28, 1, download=False)) == 30
    write_cifar10_layout(tmp_path / "home")  # every format is looked for there
    assert load_dataset("cifar10", tmp_path / "data", 32, 3, download=False).source == str(
        tmp_path / "home" / "cifar-10-batches-py")


def test_real_mnist_is_the_official_split(mnist, tmp_path):
    """MNIST in the data home (fetched by the test command) is LeCun's: the official per-class counts, the
    well-known pixel mean and standard deviation (0.1307, 0.3081 in [0, 1]) and the files' first labels."""
    from dcgan.datasets import DATASETS

    assert mnist.images.shape == (60000, 1, 28, 28) and mnist.class_names[3] == "3 - three"
    assert torch.bincount(mnist.labels).tolist() == list(DATASETS["mnist"].class_counts["train"])
    assert torch.bincount(mnist.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    pixels = mnist.images.float() / 255
    assert round(pixels.mean().item(), 4) == 0.1307 and round(pixels.std().item(), 4) == 0.3081
    assert mnist.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    test = load_dataset("mnist", tmp_path, 28, 1, split="test", download=False)
    assert torch.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_fingerprint_changes_with_the_pixels(fashion):
    from dcgan.data import ImageData

    a = ImageData(fashion.images[:100].clone(), fashion.labels[:100].clone())
    b = ImageData(fashion.images[:100].clone(), fashion.labels[:100].clone())
    assert a.fingerprint() == b.fingerprint()
    b.images[0, 0, 0, 0] ^= 1
    assert a.fingerprint() != b.fingerprint()
