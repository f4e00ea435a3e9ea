"""Where the server may read data: datasets and data_dir resolve inside its data roots, and nothing it answers
names a path outside them.

A request may name any path (`"dataset": "folder:/root"`, `"data_dir": "/etc"`); through the server it must lead
into a data root (`dcgan serve --data-root DIR`, repeatable). Anything else gets the same one-line refusal whether
or not it exists, so the server tells nobody what is on its disk. Paths are resolved first: a link inside a root
that leads out of it is outside.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from dcgan.config import TrainConfig
from dcgan.datasets import folder_path, is_folder
from dcgan.errors import ConfigError

# Absolute paths in a message: a slash, then anything up to a space, quote or bracket.
ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/])(/[^\s'\"()\[\]{}<>,;]+)")
HIDDEN = "<path>"


def default_data_roots() -> list[Path]:
    """./data (the config's default data_dir), the user's data home (the dataset registry's), and the
    system dataset folders (Debian's dataset packages: /usr/share/datasets)."""
    from dcgan import datasets  # the dataset registry: its data home and each dataset's system copies

    system = {Path(folder).parent for kind in datasets.DATASETS.values() for folder in kind.system_dirs}
    return [Path("data"), datasets.data_home(), *sorted(system)]


def resolve(path: str | os.PathLike) -> Path:
    return Path(os.path.expanduser(str(path))).resolve()


class DataRoots:
    """The folders a server reads data from. A relative root is relative to the working directory, as a
    relative data_dir is: both are resolved when they are used."""

    def __init__(self, roots: Iterable[str | os.PathLike], allow_downloads: bool = False):
        self.given = list(roots)
        self.allow_downloads = allow_downloads

    @property
    def roots(self) -> list[Path]:
        return list(dict.fromkeys(resolve(r) for r in self.given))

    def contains(self, path: str | os.PathLike) -> bool:
        try:
            found = resolve(path)
        except (OSError, RuntimeError, ValueError):  # too long, a link loop, a NUL byte
            return False
        return any(found == root or root in found.parents for root in self.roots)

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots) or "none"

    def refusal(self, what: str) -> str:
        return (f"{what} is not inside this server's data folders ({self.describe()}); put the data there, or "
                f"start the server with --data-root DIR")

    def check_data_dir(self, data_dir: str) -> str:
        if not self.contains(data_dir):
            raise ConfigError(self.refusal("data_dir"), field="data_dir")
        try:
            os.stat(resolve(data_dir))
        except FileNotFoundError:
            pass  # a new folder inside a root: a download creates it
        except OSError as e:  # a name too long, a file where a folder should be
            raise ConfigError(f"data_dir cannot be used ({e.strerror or e}); give a folder", field="data_dir") from e
        return data_dir

    def check(self, config: TrainConfig) -> TrainConfig:
        """Refuse a config whose data_dir or image folder leads outside the data roots; where downloads are off,
        a named dataset must already be on this machine."""
        self.check_data_dir(config.data_dir)
        if is_folder(config.dataset):
            if not self.contains(folder_path(config.dataset)):
                raise ConfigError(self.refusal("the image folder"), field="dataset")
        elif not self.allow_downloads:
            from dcgan.data import available_offline

            if available_offline(config.data_dir).get(config.dataset) is None:
                raise ConfigError(f"{config.dataset} is not on this machine (looked in data_dir and the system "
                                  f"dataset folders) and this server does not download datasets: put it in "
                                  f"data_dir, or start the server with --allow-downloads", field="dataset")
        return config

    def scrub(self, text: str, allowed: Iterable[Path] = ()) -> str:
        """`text` with every absolute file path outside the data roots (and `allowed`) replaced by <path>. Only
        paths whose first folder exists on this machine count, so API paths (/api/runs, /docs) stay."""
        keep = [*self.roots, *allowed]
        top = _top_level()

        def hide(match: re.Match) -> str:
            path = match.group(1)
            first = path.split("/")[1] if path.count("/") else ""
            if first not in top:
                return path
            candidate = Path(os.path.normpath(path.rstrip(".:")))
            if any(candidate == k or k in candidate.parents for k in keep):
                return path
            return HIDDEN

        return ABSOLUTE_PATH.sub(hide, text)


def _top_level() -> set[str]:
    try:
        return set(os.listdir("/"))
    except OSError:
        return set()
