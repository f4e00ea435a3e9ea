"""A full disk in the middle of a write (issue: chaos audit of what is on disk). A process's file size limit
(RLIMIT_FSIZE) cuts a write short exactly where a full disk does, without root or a small file system: the bytes
up to the limit are written, the rest fails with EFBIG. Each case runs in its own process, whose limit ends with
it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import FIXED_THREADS

LIMITED = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of ending us
def limit_to(size):
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
"""


def run_limited(code: str, *args) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", LIMITED + textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **FIXED_THREADS}, timeout=120)


def test_a_metrics_row_cut_short_by_a_full_disk_is_taken_back_whole(tmp_path):
    """The disk fills in the middle of a row: the file keeps its whole rows and no torn one, which the next row
    (after space is freed) would be glued to, losing both."""
    result = run_limited("""
        from dcgan.rundir import RunFolder
        folder = RunFolder(sys.argv[1])
        folder.append_row({"step": 1, "loss/D": 0.5})
        limit_to(os.path.getsize(folder.file("metrics.jsonl")) + 10)  # room for 10 more bytes only
        for append in (lambda: folder.append_row({"step": 2, "loss/D": 0.25}), lambda: folder.append_log("info", "x" * 200)):
            try:
                append()
            except OSError as e:
                print(e.errno, e.filename)
        limit_to(resource.RLIM_INFINITY)
        folder.append_row({"step": 3, "loss/D": 0.125})
        """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == f"27 {tmp_path / 'metrics.jsonl'}"  # EFBIG, naming the file
    assert result.stdout.split("\n")[1] == f"27 {tmp_path / 'log.txt'}"
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 3]
    assert (tmp_path / "log.txt").read_bytes() == b""


def test_an_atomic_write_that_fails_names_the_file_it_was_writing_and_leaves_the_old_one(tmp_path):
    """A checkpoint, status.json or export the disk had no room for: the error names it (not its temp file, which
    is gone by the time the error is read), the file before stays whole, and no temp file is left."""
    result = run_limited("""
        from pathlib import Path
        from dcgan.checkpoint import atomic_folder, atomic_write_bytes
        out = Path(sys.argv[1])
        def export():  # as dcgan export and generate --out-dir write their folders
            with atomic_folder(out / "export") as folder:
                (folder / "a.onnx").write_bytes(b"x" * 2000)
        atomic_write_bytes(out / "status.json", b"{}")
        limit_to(1000)
        for write in (lambda: atomic_write_bytes(out / "status.json", b"x" * 2000), export):
            try:
                write()
            except OSError as e:
                print(e.errno, e.filename)
        """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"27 {tmp_path / 'status.json'}", f"27 {tmp_path / 'export'}"]
    assert (tmp_path / "status.json").read_bytes() == b"{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]


def test_a_full_disk_under_tensorboard_is_said_once_without_its_threads_traceback(tmp_path):
    """TensorBoard writes its event file from a thread of its own, which keeps the error and raises it again at the
    next write from the training's thread, where it is said in one line; threading also printed the thread's own
    traceback first ('Exception in thread ...', found by the chaos audit)."""
    result = run_limited("""
        import numpy as np
        import torch
        from dcgan.events import SampleGrid, StatusChanged
        from dcgan.tracking import TensorBoardLogger
        logger = TensorBoardLogger(sys.argv[1])
        limit_to(4096)  # the event file's header fits, a sample grid's image does not
        grid = SampleGrid(1, 0, torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8), 8)
        for step in range(50):
            try:
                logger(grid)
            except OSError as e:
                print("told:", e.errno)
                break
        """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("told: 27"), result.stdout + result.stderr
    assert "Exception in thread" not in result.stderr and "Traceback" not in result.stderr, result.stderr
