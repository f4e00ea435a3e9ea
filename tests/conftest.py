"""Shared fixtures: real Fashion-MNIST (Debian's dataset-fashion-mnist) and real MNIST (in the data home, fetched by
`dcgan fetch mnist`), both set up by the test command, and small files in each dataset's real format, written by
the tests themselves."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.data import load_dataset, locate
from dcgan.datasets import DATASETS, data_home

ROOT = Path(__file__).resolve().parents[1]
FASHION_DIR = Path(DATASETS["fashion-mnist"].system_dirs[0])


@pytest.fixture(scope="session")
def fashion():
    """The real Fashion-MNIST training set at 28x28, decoded once for the whole session."""
    assert (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(), (
        "Fashion-MNIST is missing: the test command installs Debian's dataset-fashion-mnist")
    return load_dataset("fashion-mnist", "/nonexistent-data-dir", 28, 1, download=False)


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST training set at 28x28 (the official 60,000 digits), from the data home, decoded once."""
    assert locate("mnist", None), (
        f"MNIST is missing from the data home {data_home()}: the test command fetches it (`dcgan fetch mnist`)")
    return load_dataset("mnist", "/nonexistent-data-dir", 28, 1, download=False)


@pytest.fixture
def fixed_threads(monkeypatch):
    """The intra-op thread count pinned (as OMP_NUM_THREADS pins it for a user), for tests that compare two runs
    number for number: the thread governor (dcgan.threads) lowers the count of a run the CPU is shared with, and
    a run that dropped a thread differs from one that did not in the order of its floating-point sums. Runs
    started in subprocesses get FIXED_THREADS in their environment."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))


FIXED_THREADS = {"OMP_NUM_THREADS": "1"}  # for subprocesses: one thread does not collapse on a busy machine


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Each test runs in its own folder so runs/ and data/ never leak between tests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    torch.set_num_threads(min(2, os.cpu_count() or 1))


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
    """Write an IDX file (magic 0x08 = unsigned bytes, then big-endian dims), as LeCun's MNIST files are."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_mnist_layout(root: Path, folder: str, n: int = 300, gz: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """torchvision's layout for the MNIST family: root/<folder>/raw/{train,t10k}-{images,labels}-idx*-ubyte."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    suffix = ".gz" if gz else ""
    for prefix in ("train", "t10k"):
        write_idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
        write_idx(root / folder / "raw" / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
    return images, labels


def write_cifar10_layout(root: Path, per_batch: int = 40) -> np.ndarray:
    """torchvision's CIFAR-10 layout: cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta, each a
    pickled dict with "data" (N, 3072) uint8 rows in CHW order and "labels"."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    all_rows = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rows = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        if name != "test_batch":
            all_rows.append(rows)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rows, "labels": rng.integers(0, 10, per_batch).tolist()}, f)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)
    return np.concatenate(all_rows).reshape(-1, 3, 32, 32)


def write_celeba_layout(root: Path, n: int = 12) -> None:
    """torchvision's CelebA layout: celeba/img_align_celeba/*.jpg (178x218) and its five annotation files."""
    folder = root / "celeba"
    images = folder / "img_align_celeba"
    images.mkdir(parents=True)
    rng = np.random.default_rng(2)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    for name in names:
        Image.fromarray(rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)).save(images / name)
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {i % 3}\n" for i, n in enumerate(names)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} {i}\n" for i, n in enumerate(names)))
    attrs = ["Smiling", "Young"]
    (folder / "list_attr_celeba.txt").write_text(
        f"{n}\n" + " ".join(attrs) + "\n" + "".join(f"{name} 1 -1\n" for name in names))
    (folder / "list_bbox_celeba.txt").write_text(
        f"{n}\nimage_id x_1 y_1 width height\n" + "".join(f"{name} 1 2 3 4\n" for name in names))
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\nlefteye_x lefteye_y\n" + "".join(f"{name} 69 109\n" for name in names))


# metrics.jsonl's names before the slash names of dcgan.vocabulary, as run folders written then hold them.
NAMES_BEFORE_THE_VOCABULARY = {
    "loss/D": "loss_D", "loss/G": "loss_G", "loss/ratio": "loss_ratio", "D/real": "D_x", "D/fake": "D_G_z",
    "D/fake_before_G": "D_G_z_before", "D/fake_after_G": "D_G_z_after", "D/W_distance": "W_distance",
    "penalty/gp": "gp", "penalty/r1": "r1", "lr/G": "lr_G", "lr/D": "lr_D", "speed/images_per_s": "images_per_s"}


def write_metrics_as_before_the_vocabulary(run_dir: Path) -> list[dict]:
    """Rewrite a run's metrics.jsonl by hand as dcgan wrote it before the slash names (loss_D, D_x, ...); returns
    the rows as they were (today's names)."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    old = [r if "event" in r else {NAMES_BEFORE_THE_VOCABULARY.get(k, k): v for k, v in r.items()} for r in rows]
    assert any("loss_D" in r for r in old)
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    return rows


def write_long_metrics(path: Path, row: dict, marks: dict[int, dict], steps: int = 60_000) -> None:
    """A metrics.jsonl of `steps` logged steps, each `row` with its step and loss/D = the step, and after every
    step that a key of `marks` divides, that mark row (e.g. {1000: {"event": "epoch"}}) with its step (and, for an
    epoch end, the epoch): a long run's file, for tests of what reading one holds in memory."""
    with open(path, "w") as f:
        for step in range(1, steps + 1):
            f.write(json.dumps({**row, "step": step, "loss/D": float(step)}) + "\n")
            for every, mark in marks.items():
                if step % every == 0:
                    epoch = {"epoch": step // every} if mark.get("event") == "epoch" else {}
                    f.write(json.dumps({**mark, "step": step, **epoch}) + "\n")


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None):
    """Run the real console entry point in a subprocess."""
    import subprocess

    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "dcgan", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


HANG_S = 600  # how long a test waits for something that must happen before it calls it a hang


def until(test, what: str, timeout_s: float = HANG_S):
    """Wait for `test()` to be true and return its value. The timeout only guards against a hang: a test waits
    for events, never for a time to pass, so a slower machine only takes longer."""
    deadline = time.monotonic() + timeout_s
    while not (found := test()):
        assert time.monotonic() < deadline, f"waited {timeout_s:g} s for {what}: a hang"
        time.sleep(0.05)
    return found


def read_dashboard_url(process, timeout_s: float = 60) -> tuple[str | None, list[str]]:
    """The URL a starting `dcgan serve` prints ("dcgan dashboard: http(s)://..."), and the lines read before it."""
    deadline, lines = time.monotonic() + timeout_s, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"dcgan dashboard: (https?://\S+)", line)
        if match:
            return match.group(1), lines
    return None, lines


@pytest.fixture(scope="session")
def fashion_run(fashion, tmp_path_factory):
    """A short real Fashion-MNIST run (narrow networks, 300 steps) whose G already draws rough garments: enough for
    style mixing and attribute directions to have something to act on."""
    from dcgan.config import TrainConfig
    from dcgan.training import Trainer

    folder = tmp_path_factory.mktemp("fashion-run") / "runs" / "fashion"
    config = TrainConfig(dataset="fashion-mnist", steps=300, batch_size=64, g_width=16, d_width=16, lr=6e-4,
                         seed=0, sample_every=1000, checkpoint_every=1000, tensorboard=False)
    Trainer(config, run_dir=folder, data=fashion).run()
    return folder
