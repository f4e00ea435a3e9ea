"""Generation from a trained G: the notebook handle (load_generator, sample, _repr_png_), conditional classes and
the class-by-row grid, and `dcgan generate --class / --by-class`."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.cli import main
from dcgan.config import TrainConfig
from dcgan.data import ImageData
from dcgan.errors import CheckpointError, ConfigError
from dcgan.images import Images, grid_array
from dcgan.models import Generator
from dcgan.sampling import LoadedGenerator, load_generator
from dcgan.training import Trainer


def tiny_run(folder, fashion, **overrides):
    values = dict(dataset="fashion-mnist", steps=2, batch_size=16, g_width=8, d_width=8, latent_dim=16, seed=0,
                  sample_every=1000, tensorboard=False)
    data = ImageData(fashion.images[:256], fashion.labels[:256], fashion.class_names, fashion.source)
    Trainer(TrainConfig(**{**values, **overrides}), run_dir=folder, data=data).run()
    return folder


@pytest.fixture(scope="module")
def plain(tmp_path_factory, fashion):
    return tiny_run(tmp_path_factory.mktemp("sampling") / "plain", fashion)


@pytest.fixture(scope="module")
def conditional(tmp_path_factory, fashion):
    return tiny_run(tmp_path_factory.mktemp("sampling") / "cond", fashion, conditional=True)


def test_the_same_seed_gives_the_same_images(plain):
    g = load_generator(plain)
    assert torch.equal(g.sample(8, seed=4).tensor, g.sample(8, seed=4).tensor)
    assert not torch.equal(g.sample(8, seed=4).tensor, g.sample(8, seed=5).tensor)


def test_samples_show_as_a_png_grid_in_jupyter(plain):
    images = load_generator(plain).sample(16, seed=0)
    assert isinstance(images, Images) and images.tensor.shape == (16, 1, 28, 28)
    png = Image.open(io.BytesIO(images._repr_png_()))
    assert png.format == "PNG" and png.size == (3 * (4 * 30 + 2),) * 2  # 4x4 images, 2-pixel padding, enlarged 3x


def test_loading_an_unknown_run_says_what_to_give(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "runs" / "nope")


def test_a_conditional_generator_draws_the_class_asked_for(conditional):
    g = load_generator(conditional)
    assert g.num_classes == 10
    z = g.noise(6, seed=1)
    assert torch.equal(g.sample(6, seed=1, label=3).tensor, g.generate(z, torch.full((6,), 3)))


def test_a_conditional_generator_without_a_class_draws_the_classes_in_turn(conditional):
    g = load_generator(conditional)
    z = g.noise(12, seed=2)
    assert torch.equal(g.sample(12, seed=2).tensor, g.generate(z, torch.arange(12) % 10))


def test_the_class_grid_has_one_row_per_class_sharing_noise_down_each_column(conditional):
    g = load_generator(conditional)
    grid = g.by_class(per_class=5, seed=7)
    assert grid.tensor.shape == (50, 1, 28, 28) and grid.nrow == 5
    z = g.noise(5, seed=7)
    assert torch.equal(grid.tensor[3 * 5:4 * 5], g.generate(z, 3))  # row 3: class 3, the same five z


def test_a_class_is_named_in_python_as_on_the_command_line(conditional):
    g = load_generator(conditional)
    assert torch.equal(g.sample(4, seed=1, label="sneaker").tensor, g.sample(4, seed=1, label=7).tensor)
    assert torch.equal(g.interpolate(1, 2, steps=3, label="Ankle boot").tensor,
                       g.interpolate(1, 2, steps=3, label=9).tensor)
    z = g.noise(3, seed=1)
    assert torch.equal(g.generate(z, ["bag", "sneaker", 0]), g.generate(z, torch.tensor([8, 7, 0])))
    for wrong in (10, -1, "hat", 3.0, True, torch.tensor([1.0, 2.0, 3.0, 4.0]), ["bag", "hat", 1, 2]):
        with pytest.raises(ConfigError, match="0=T-shirt/top|one per image") as caught:
            g.sample(4, label=wrong)
        assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"conditional generator \(10 classes\): give a class .*9=Ankle boot"):
        g.interpolate(1, 2)


def test_the_classes_in_turn_have_a_column_each(conditional, tmp_path):
    """Without a class a conditional G draws 0, 1, ..., 9, 0, ...: ten columns, so column k is class k."""
    g = load_generator(conditional)
    assert Image.open(io.BytesIO(g.sample(20, seed=0).png_bytes())).size == (10 * 30 + 2, 2 * 30 + 2)
    assert main(["generate", str(conditional), "-n", "30", "--grid", str(tmp_path / "turn.png")]) == 0
    assert Image.open(tmp_path / "turn.png").size == (10 * 30 + 2, 3 * 30 + 2)


def test_a_seed_moves_between_two_classes_through_their_embeddings(conditional):
    """interpolate_classes: one z, the class embedding on the line from one class's to another's; the ends are
    that seed's images of the two classes, and the frames between are neither."""
    g = load_generator(conditional)
    strip = g.interpolate_classes(3, "sneaker", 9, steps=5)
    assert strip.tensor.shape == (5, 1, 28, 28) and strip.nrow == 5 and strip.seeds == [3]
    assert torch.equal(strip.tensor[0], g.sample(1, seed=3, label=7).tensor[0])
    assert torch.equal(strip.tensor[-1], g.sample(1, seed=3, label=9).tensor[0])
    assert not torch.equal(strip.tensor[2], strip.tensor[0]) and not torch.equal(strip.tensor[2], strip.tensor[-1])
    with pytest.raises(ConfigError, match="unknown class 'hat'"):
        g.interpolate_classes(3, "hat", 9)
    with pytest.raises(ConfigError, match=r"both ends are class 0 \(T-shirt/top\): give two different"):
        g.interpolate_classes(3, "t-shirt", "top")


def test_an_unconditional_generator_refuses_a_class(plain):
    g = load_generator(plain)
    with pytest.raises(ConfigError, match="unconditional"):
        g.sample(4, label=1)
    with pytest.raises(ConfigError, match="unconditional"):
        g.interpolate_classes(0, 1, 2)
    with pytest.raises(ConfigError, match="unconditional"):
        g.by_class()


def test_generate_class_writes_a_grid_of_that_class(conditional, tmp_path, capsys):
    out = tmp_path / "three.png"
    assert main(["generate", str(conditional), "--class", "3", "-n", "9", "--seed", "0", "--grid", str(out)]) == 0
    assert Image.open(out).size == (3 * 30 + 2, 3 * 30 + 2)
    assert "of class 3" in capsys.readouterr().out


def test_generate_by_class_writes_one_row_per_class(conditional, tmp_path):
    out = tmp_path / "classes.png"
    assert main(["generate", str(conditional), "--by-class", "--per-class", "6", "--grid", str(out)]) == 0
    width, height = Image.open(out).size
    assert height == 10 * 30 + 2 and width > 6 * 30 + 2  # and the class names on the left


def test_images_say_what_they_hold_outside_jupyter(plain):
    assert repr(load_generator(plain).sample(16, seed=1)).startswith("<Images: 16 of 1x28x28; .save('grid.png')")


def test_generate_names_its_default_grid_by_what_it_drew_and_enlarges_it(conditional, tmp_path, capsys):
    """A class shown after another does not overwrite the first's grid; --scale makes 28x28 images readable on a
    projector, sharp (each pixel an S x S block)."""
    assert main(["generate", str(conditional), "--class", "sneaker", "-n", "4", "--seed", "0"]) == 0
    assert main(["generate", str(conditional), "--class", "8", "-n", "4", "--seed", "0", "--scale", "3"]) == 0
    assert main(["generate", str(conditional), "--by-class", "--per-class", "2"]) == 0
    assert sorted(p.name for p in tmp_path.glob("generated*.png")) == [
        "generated-by-class.png", "generated-class7-Sneaker.png", "generated-class8-Bag.png"]
    small, large = (np.asarray(Image.open(tmp_path / f"generated-class{k}.png")) for k in ("7-Sneaker", "8-Bag"))
    assert small.shape == (2 * 30 + 2, 2 * 30 + 2) and large.shape == (2 * 86 + 2, 2 * 86 + 2)
    first = large[2:86, 2:86]
    assert np.array_equal(first, np.kron(first[::3, ::3], np.ones((3, 3), first.dtype)))
    assert "seed 0: generated-class8-Bag.png" in capsys.readouterr().out
    # Without --seed the output names the random seed it drew: that grid can be drawn again.
    assert main(["generate", str(conditional), "-n", "4", "--grid", "random.png"]) == 0
    seed = re.search(r"seed (\d+): random.png", capsys.readouterr().out).group(1)
    assert main(["generate", str(conditional), "-n", "4", "--grid", "again.png", "--seed", seed]) == 0
    assert np.array_equal(np.asarray(Image.open("random.png")), np.asarray(Image.open("again.png")))


def test_the_class_grid_names_each_row_as_class_takes_it(conditional):
    g = load_generator(conditional)
    grid = g.by_class(per_class=5, seed=7)
    assert grid.row_labels[:2] == ["0 T-shirt/top", "1 Trouser"] and grid.row_labels[9] == "9 Ankle boot"
    array, plain = grid.grid(), grid_array(grid.tensor, 5)
    margin = array.shape[1] - plain.shape[1]
    assert margin > 0 and np.array_equal(array[:, margin:], plain)  # the images themselves, untouched
    for row in range(10):  # light text in the margin beside every row
        assert array[2 + row * 30:2 + row * 30 + 28, :margin].max() > 128


@pytest.mark.parametrize("run, argv, message", [
    ("plain", ["--class", "3"], "unconditional"),
    ("plain", ["--by-class"], "unconditional"),
    ("conditional", ["--class", "10"], "unknown class 10: use a number or a name from 0=T-shirt/top, 1=Trouser"),
    ("conditional", ["--class", "1", "--by-class"], "drop --class"),
    ("conditional", ["--class", "1", "--per-class", "4"], "--per-class sets the columns of --by-class"),
    ("conditional", ["--by-class", "-n", "5"], "--by-class draws --per-class images of each class (default: 10), "
                                               "not -n 5: give --per-class N"),
    ("conditional", ["--by-class", "--per-class", "101"], "images per class must be from 1 to 100, got 101"),
    ("plain", ["--scale", "17"], "--scale must be from 1 to 16, got 17"),
])
def test_generate_rejects_bad_classes_with_exit_code_2(request, capsys, run, argv, message):
    assert main(["generate", str(request.getfixturevalue(run)), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _generate_error(capsys, target) -> str:
    """`dcgan generate target`'s one stderr line, with no warning before it (exit code 2)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["generate", str(target)]) == 2
    assert [str(w.message) for w in caught if not issubclass(w.category, FutureWarning)] == []
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and "weights_only" not in err, err
    return err


def test_generate_names_a_file_that_is_no_checkpoint_for_what_it_is(plain, tmp_path, capsys):
    from dcgan.export import export_run

    config = tmp_path / "my.toml"
    config.write_text('[train]\ndataset = "fashion-mnist"\n')
    assert f"{config} is not a readable dcgan checkpoint: it is a text file (.toml); give a run folder" in \
        _generate_error(capsys, config)
    scripted = export_run(plain, tmp_path / "ex-torchscript", format="torchscript")
    model = tmp_path / "ex-torchscript" / "generator.pt"
    assert model.is_file(), scripted
    assert f"{model} is not a readable dcgan checkpoint: it is a TorchScript export (`dcgan export --format " \
           f"torchscript`; torch.jit.load runs it); give a run folder" in _generate_error(capsys, model)


def test_generate_says_which_weights_do_not_fit_in_one_line(plain, tmp_path, capsys):
    from dcgan.checkpoint import atomic_save, load_checkpoint, resolve_checkpoint

    state = load_checkpoint(resolve_checkpoint(plain))
    state["G"] = {k: v for k, v in state["G"].items() if k != "main.0.weight"}
    atomic_save(state, tmp_path / "edited.pt")
    assert _generate_error(capsys, tmp_path / "edited.pt").endswith(
        f"{tmp_path / 'edited.pt'}: the weights do not fit the generator its config describes (1 missing, such as "
        f"main.0.weight); use a file written by dcgan train or dcgan export, unchanged")
    del state["G"]
    atomic_save(state, tmp_path / "no-g.pt")
    assert _generate_error(capsys, tmp_path / "no-g.pt").endswith(
        f"{tmp_path / 'no-g.pt'} is a dcgan checkpoint without G, so G cannot be made from it; use another "
        f"checkpoint of the run or its generator.safetensors")


def test_saving_images_is_complete_or_leaves_the_old_file(plain, tmp_path, monkeypatch):
    """Images.save (grids, interpolation strips) writes through a temp file: an encoder that fails half-way leaves
    the file that was there, and a suffix it cannot write is one ConfigError before anything is written."""
    images = load_generator(plain).sample(4, seed=0)
    out = tmp_path / "grid.png"
    out.write_bytes(b"the earlier grid")
    real_save = Image.Image.save

    def fails_half_way(self, fp, format=None, **params):
        target = fp if hasattr(fp, "write") else open(fp, "wb")
        target.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fails_half_way)
    with pytest.raises(OSError, match="disk full"):
        images.save(out)
    assert out.read_bytes() == b"the earlier grid" and sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]
    monkeypatch.setattr(Image.Image, "save", real_save)
    with pytest.raises(ConfigError, match=r"the path .*grid.xyz: .xyz is not an image type this can write"):
        images.save(tmp_path / "grid.xyz")
    assert Image.open(images.save(out)).size == (images.grid().shape[1], images.grid().shape[0])


def test_a_checkpoint_pruned_between_finding_and_reading_it_gives_the_newer_one(tmp_path, fashion, monkeypatch):
    """A training with --keep-checkpoints 1 writes step N+1 and deletes step N while `dcgan generate RUN` reads
    `last`: the load found step N gone ('does not exist', 36 of 804 loads in the chaos audit). It reads `last`
    again, which names the newer one; a file named by the user is not replaced."""
    import shutil

    import dcgan.sampling as sampling
    from dcgan.checkpoint import load_checkpoint

    run = tiny_run(tmp_path / "run", fashion)
    folder = run / "checkpoints"
    (older,) = folder.glob("step-*.pt")
    newer = folder / "step-0000003.pt"
    calls = []

    def pruned_meanwhile(path, **kw):
        calls.append(path)
        if len(calls) == 1:  # the training moves on between resolve_checkpoint and this read
            shutil.copy(older, newer)
            (folder / "last").write_text(newer.name + "\n")
            older.unlink()
        return load_checkpoint(path, **kw)

    monkeypatch.setattr(sampling, "load_checkpoint", pruned_meanwhile)
    assert load_generator(run).source == str(newer)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(older)  # the user's own file: gone is gone


def test_an_old_folder_runs_classes_are_the_sub_folders_the_loader_labelled(tmp_path):
    """A run made before class names were recorded names its classes as the folder's loader does: an empty
    sub-folder, or a hidden one without images, is no class (they made the names plain numbers)."""
    pets = tmp_path / "pets"
    for name in ("cats", "dogs"):
        (pets / name).mkdir(parents=True)
        Image.new("L", (8, 8)).save(pets / name / "0.png")
    (pets / "empty").mkdir()
    (pets / ".thumbs").mkdir()
    (pets / ".thumbs" / "index.db").write_bytes(b"not an image")
    config = TrainConfig(dataset=f"folder:{pets}", image_size=16, channels=1, conditional=True).resolved("cpu")
    g = LoadedGenerator(Generator(16, 1, 8, 8, num_classes=2), config, 0, "old run")
    assert g.classes == ["cats", "dogs"]
