"""Datasets, found offline where possible and decoded once into one in-memory uint8 tensor.

Training then batches by indexing that tensor (on the training device when it fits): no per-sample Python
transforms and no DataLoader workers competing for the CPU's cores at every step.

The named datasets and where they are looked for are entries of dcgan.datasets (the registry); this module has
one reader per file format (`READERS`) and reads any folder of images. Where a named dataset comes from, in order:
  1. `--data-dir` (default ./data) in torchvision's layout (e.g. ./data/FashionMNIST/raw/...);
  2. the user's data home (dcgan.datasets.data_home(); `dcgan fetch` fills it), in the same layout;
  3. a system copy (Debian's package `dataset-fashion-mnist`: /usr/share/datasets/fashion-mnist, gz read in place);
  4. torchvision's download into `--data-dir`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms.v2 import functional as TF

from dcgan.datasets import DATASETS, DatasetKind, folder_root, get, is_folder, search_roots
from dcgan.errors import DataError, first_line

CACHE_FOLDER = ".dcgan-cache"


@dataclass
class ImageData:
    """A whole dataset in memory: images (N, C, H, W) uint8 and optional labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] = field(default_factory=list)
    source: str = ""  # where it was read from, for the log
    skipped: int = 0  # unreadable files left out (folders)
    skipped_files: list[str] = field(default_factory=list)  # the first few of them, to name in the log

    def __len__(self) -> int:
        return self.images.shape[0]

    def skipped_note(self) -> str:
        """What the log says about unreadable files left out ('' when none were)."""
        if not self.skipped:
            return ""
        files = ", ".join(self.skipped_files) + (", ..." if self.skipped > len(self.skipped_files) else "")
        return (f"{self.skipped} unreadable image file{'s were' if self.skipped > 1 else ' was'} skipped"
                + (f": {files}" if files else ""))

    def fingerprint(self) -> str:
        """sha256 of the pixels and labels: two runs with the same fingerprint saw the same data."""
        h = hashlib.sha256(self.images.contiguous().numpy().tobytes())
        if self.labels is not None:
            h.update(self.labels.numpy().tobytes())
        return h.hexdigest()[:16]


def load_dataset(name: str, data_dir: str | os.PathLike, image_size: int, channels: int, split: str = "train",
                 download: bool = True, cache: bool = True) -> ImageData:
    """Find, decode and format a dataset: (N, channels, image_size, image_size) uint8 in memory. `cache`: keep the
    decoded images of a folder or CelebA in data_dir/.dcgan-cache for next time (a dry run does not)."""
    data_dir = Path(os.path.expanduser(str(data_dir)))
    if is_folder(name):
        raw = _load_folder(folder_root(name), data_dir, image_size, channels, cache)
    else:
        kind = get(name)
        raw = READERS[kind.format].load(kind, data_dir, split, download, image_size, channels, cache)
    raw.images = to_format(raw.images, image_size, channels)
    return raw


def to_format(images: torch.Tensor, image_size: int, channels: int, chunk: int = 4096) -> torch.Tensor:
    """Convert (N, C, H, W) uint8 to the training format once: channels, then resize the short side and
    centre-crop to a square (the usual DCGAN preprocessing)."""
    out = []
    for part in images.split(chunk):
        if part.shape[1] != channels:
            part = part.expand(-1, 3, -1, -1) if channels == 3 else TF.rgb_to_grayscale(part)
        if part.shape[-2:] != (image_size, image_size):
            part = TF.center_crop(TF.resize(part, image_size, antialias=True), [image_size, image_size])
        out.append(part.contiguous())
    return torch.cat(out) if out else images.new_zeros((0, channels, image_size, image_size))


def locate(name: str, data_dir: str | os.PathLike | None) -> str | None:
    """Where a named dataset would be read from without a download (None: nowhere offline): the first of
    dcgan.datasets.search_roots that holds it (--data-dir, then the data home, then system copies; data_dir None
    leaves out --data-dir)."""
    kind = get(name)
    reader = READERS[kind.format]
    for root in search_roots(name, data_dir):
        if reader.present(root):
            return str(root)
    return None


def available_offline(data_dir: str | os.PathLike) -> dict[str, str | None]:
    """For each named dataset, where it would be read from without a download (None: not available)."""
    return {name: locate(name, data_dir) for name in DATASETS}


def _not_found(kind: DatasetKind, data_dir: Path, why: Exception | str) -> DataError:
    looked = ", ".join(str(r) for r in search_roots(kind.name, data_dir))
    return DataError(f"could not find or download {kind.name} ({why}; looked in {looked}). Ways to get it: "
                     f"{kind.how_to_get()}")


@dataclass(frozen=True)
class Reader:
    """How one file format is found and read: present(folder) says whether a dataset folder holds a readable
    copy; load(kind, data_dir, split, download, image_size, channels, cache) finds, reads or downloads it (`cache`:
    whether it may keep decoded images for next time; formats read in place have none)."""

    present: Callable[[Path], bool]
    load: Callable[..., ImageData]


# --- MNIST family: IDX files --------------------------------------------------------------------------------

def mnist_files(folder: Path, split: str) -> tuple[Path, Path] | None:
    """(images, labels) IDX files of a split in a folder, plain or gzipped."""
    prefix = "train" if split == "train" else "t10k"
    pair = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        for suffix in ("", ".gz"):
            path = folder / f"{prefix}-{kind}{suffix}"
            if path.is_file():
                pair.append(path)
                break
    return (pair[0], pair[1]) if len(pair) == 2 else None


def _idx_split(root: Path, split: str) -> tuple[Path, Path] | None:
    """A split's files under a dataset folder: in raw/ (torchvision's layout) or in the folder itself (a system
    copy)."""
    for folder in (root / "raw", root):
        files = mnist_files(folder, split)
        if files is not None:
            return files
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format: magic, dims, big-endian uint8 data), gzipped or not.

    torchvision's reader takes only uncompressed files; this lets a system copy be read in place.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an IDX file of unsigned bytes")
        dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
        array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
        return array.reshape(dims)
    except (OSError, ValueError, struct.error, EOFError) as e:
        raise DataError(f"{path} is not a readable IDX file ({e}); delete it and fetch the dataset again") from e


def _load_idx(kind: DatasetKind, data_dir: Path, split: str, download: bool, image_size: int,
              channels: int, cache: bool = True) -> ImageData:
    classes = list(kind.class_names)
    # --data-dir, the data home, system copies (plain or gzipped IDX files, read in place).
    for root in search_roots(kind.name, data_dir):
        files = _idx_split(root, split)
        if files is not None:
            images, labels = read_idx(files[0]), read_idx(files[1])
            return ImageData(torch.from_numpy(images.copy()).unsqueeze(1),
                             torch.from_numpy(labels.astype(np.int64)), classes, str(files[0].parent))
    # torchvision's download into --data-dir.
    if not download:
        raise _not_found(kind, data_dir, "not on disk and downloads are off")
    try:
        ds = getattr(torchvision.datasets, kind.torchvision_class)(str(data_dir), train=split == "train",
                                                                   download=True)
    except Exception as e:  # network errors come in many types (URLError, RuntimeError, OSError)
        raise _not_found(kind, data_dir, f"download failed: {first_line(e)}") from e
    return ImageData(ds.data.unsqueeze(1).clone(), ds.targets.clone().long(), classes, str(data_dir / kind.folder))


# --- CIFAR-10 -----------------------------------------------------------------------------------------------

class _LocalCIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR-10 reader; a local copy counts when its files are present (the download's archive is
    still checked by md5; a truncated or foreign file fails while unpickling, with a clear error), so that
    subsets and re-packed copies load."""

    train_list = [(name, None) for name, _ in torchvision.datasets.CIFAR10.train_list]
    test_list = [(name, None) for name, _ in torchvision.datasets.CIFAR10.test_list]
    meta = {**torchvision.datasets.CIFAR10.meta, "md5": None}

    @classmethod
    def present(cls, folder: Path) -> bool:
        names = [n for n, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return all((folder / n).is_file() for n in names)


def _load_cifar10(kind: DatasetKind, data_dir: Path, split: str, download: bool, image_size: int,
                  channels: int, cache: bool = True) -> ImageData:
    found = next((r for r in search_roots(kind.name, data_dir) if _LocalCIFAR10.present(r)), None)
    if found is None and not download:
        raise _not_found(kind, data_dir, "not on disk and downloads are off")
    # torchvision reads <root>/cifar-10-batches-py; a copy found elsewhere is that folder itself.
    root = found.parent if found is not None else data_dir
    try:
        ds = _LocalCIFAR10(str(root), train=split == "train", download=found is None)
    except (OSError, EOFError, KeyError, ValueError, RuntimeError) as e:
        if found is not None:
            raise DataError(f"CIFAR-10 files in {found} are unreadable ({e}); delete them and fetch the dataset "
                            f"again") from e
        raise _not_found(kind, data_dir, f"download failed: {first_line(e)}") from e
    except Exception as e:  # unpickling errors and network errors of many kinds
        raise _not_found(kind, data_dir, first_line(e)) from e
    images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)  # (N, 3, 32, 32)
    return ImageData(images.contiguous(), torch.tensor(ds.targets, dtype=torch.long), list(ds.classes),
                     str(root / _LocalCIFAR10.base_folder))


# --- CelebA -------------------------------------------------------------------------------------------------

class _LocalCelebA(torchvision.datasets.CelebA):
    """torchvision's CelebA reader; a local copy counts when its files are present."""

    @classmethod
    def present(cls, folder: Path) -> bool:
        txt = [n for _, _, n in cls.file_list if n.endswith(".txt")]
        return all((folder / n).is_file() for n in txt) and (folder / "img_align_celeba").is_dir()

    def _check_integrity(self) -> bool:
        return self.present(Path(self.root) / self.base_folder)


def _load_celeba(kind: DatasetKind, data_dir: Path, split: str, download: bool, image_size: int,
                 channels: int, cache: bool = True) -> ImageData:
    found = next((r for r in search_roots(kind.name, data_dir) if _LocalCelebA.present(r)), None)
    if found is None and not download:
        raise _not_found(kind, data_dir, "not on disk and downloads are off")
    if found is None:
        try:
            import gdown  # noqa: F401  torchvision fetches CelebA from Google Drive with it
        except ImportError:
            looked = " or ".join(str(r) for r in search_roots(kind.name, data_dir))  # the data home too
            raise DataError(f"CelebA is not in {looked}, and downloading it needs the gdown package: pip install "
                            f"'dcgan[celeba]' (or put CelebA's files in one of them by hand: img_align_celeba/ and "
                            f"the list_*.txt files)") from None
    root = found.parent if found is not None else data_dir
    try:
        # All 202,599 faces train a GAN; the official partition matters for classifiers, not here.
        ds = _LocalCelebA(str(root), split="all" if split == "train" else "test", target_type=[],
                          download=found is None)
    except (ValueError, IndexError, OSError) as e:
        raise DataError(f"CelebA's files in {root / 'celeba'} are unreadable ({e}); fetch them again") from e
    except Exception as e:  # network errors, Google Drive's daily quota
        raise _not_found(kind, data_dir, f"download failed: {first_line(e)}") from e
    folder = root / _LocalCelebA.base_folder / "img_align_celeba"
    paths = [folder / name for name in ds.filename]
    return _decode_cached(paths, data_dir, image_size, channels, labels=None, class_names=[],
                          source=str(folder), write=cache)


# The file formats named datasets come in (a registry entry's `format`).
READERS: dict[str, Reader] = {
    "idx": Reader(lambda root: _idx_split(root, "train") is not None, _load_idx),
    "cifar10": Reader(_LocalCIFAR10.present, _load_cifar10),
    "celeba": Reader(_LocalCelebA.present, _load_celeba),
}


# --- Any folder of images -----------------------------------------------------------------------------------

def _load_folder(root: Path, data_dir: Path, image_size: int, channels: int, cache: bool = True) -> ImageData:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; give --dataset folder:PATH with a folder of images")
    paths = folder_images(root)
    if not paths:
        raise DataError(f"no images in {root} (looked recursively for {', '.join(IMG_EXTENSIONS)})")
    class_names = folder_classes(root, paths)
    labels = [class_names.index(p.relative_to(root).parts[0]) for p in paths] if class_names else None
    return _decode_cached(paths, data_dir, image_size, channels, labels, class_names, str(root), write=cache)


def folder_images(root: Path) -> list[Path]:
    """The image files in a folder and every folder below it, sorted: what a folder: dataset holds."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)


def folder_classes(root: Path, images: list[Path] | None = None) -> list[str]:
    """A folder's class names in label order, as torchvision's ImageFolder gives them: its top-level sub-folders
    that hold images, sorted, when every image is in one and there are two or more; [] when it is unlabelled (a
    sub-folder without images is no class)."""
    images = folder_images(root) if images is None else images
    top = {p.relative_to(root).parts[0] for p in images}
    labelled = all(len(p.relative_to(root).parts) > 1 for p in images) and len(top) > 1
    return sorted(top) if labelled else []


def _decode_one(path: Path, image_size: int, channels: int) -> torch.Tensor | None:
    try:
        with Image.open(path) as img:
            if img.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit (PNG, TIFF): convert() would clip to white
                img = Image.fromarray((np.asarray(img, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8))
            img = img.convert("RGB" if channels == 3 else "L")
            img = TF.center_crop(TF.resize(img, image_size, antialias=True), [image_size, image_size])
            return TF.pil_to_tensor(img)  # (C, S, S) uint8
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _decode_cached(paths: list[Path], data_dir: Path, image_size: int, channels: int, labels: list[int] | None,
                   class_names: list[str], source: str, write: bool = True) -> ImageData:
    """Decode image files once (threads: PIL releases the GIL while decoding) and cache the tensor under
    data_dir/.dcgan-cache, keyed by the files' names, sizes and times and the format (`write`: False reads a cache
    that is there but writes none)."""
    listing = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    key = hashlib.sha256(json.dumps([listing, image_size, channels]).encode()).hexdigest()[:20]
    cache = data_dir / CACHE_FOLDER / f"{key}.pt"
    if cache.is_file():
        try:
            saved = torch.load(cache, weights_only=True)
            return ImageData(saved["images"], saved.get("labels"), class_names, source, int(saved["skipped"]),
                             list(saved.get("skipped_files", [])))
        except Exception:
            pass  # a damaged cache is rebuilt below
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        decoded = list(pool.map(lambda p: _decode_one(p, image_size, channels), paths))
    keep = [i for i, t in enumerate(decoded) if t is not None]
    if not keep:
        raise DataError(f"none of the {len(paths)} image files in {source} could be read; check the files")
    images = torch.stack([decoded[i] for i in keep])
    label_tensor = torch.tensor([labels[i] for i in keep], dtype=torch.long) if labels is not None else None
    unread = [str(p) for p, t in zip(paths, decoded) if t is None]
    data = ImageData(images, label_tensor, class_names, source, skipped=len(unread), skipped_files=unread[:5])
    if not write:
        return data
    try:
        from dcgan.checkpoint import atomic_save

        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_save({"images": images, "labels": label_tensor, "skipped": data.skipped,
                     "skipped_files": data.skipped_files}, cache)
    except OSError:
        pass  # a read-only data folder only costs a decode next time
    return data


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled sample order of an epoch: a function of (seed, epoch) only, so a resumed run continues the
    same order mid-epoch."""
    gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return torch.randperm(n, generator=gen)
