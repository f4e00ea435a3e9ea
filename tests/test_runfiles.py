"""The run folder as a killed run leaves it: status.json names the step of its last checkpoint, and a resume clears
the temp files of a checkpoint write the kill cut short."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import FIXED_THREADS, run_cli, until
from dcgan.checkpoint import _temp_file
from dcgan.config import TrainConfig
from dcgan.data import ImageData
from dcgan.errors import RunFolderGone
from dcgan.events import CheckpointSaved, StepMetrics
from dcgan.training import Trainer

TINY = ["--batch-size", "16", "--g-width", "8", "--d-width", "8", "--latent-dim", "16", "--seed", "3",
        "--no-tensorboard", "--no-progress"]


def test_status_json_moves_on_with_each_checkpoint(tmp_path, fashion):
    """Not with every step (cheap), but a checkpoint's step is on disk in status.json as soon as the checkpoint is."""
    seen = []

    def at_checkpoint(event):
        if isinstance(event, CheckpointSaved):
            seen.append(json.loads((tmp_path / "run" / "status.json").read_text()))

    data = ImageData(fashion.images[:256], fashion.labels[:256], fashion.class_names, fashion.source)
    config = TrainConfig(dataset="fashion-mnist", steps=6, checkpoint_every=2, batch_size=16, g_width=8, d_width=8,
                         latent_dim=16, seed=0, sample_every=1000, tensorboard=False)
    Trainer(config, run_dir=tmp_path / "run", data=data, subscribers=[at_checkpoint]).run()
    assert [(s["status"], s["step"], s["checkpoint"]) for s in seen] == [
        ("running", 2, 2), ("running", 4, 4), ("running", 6, 6)]
    final = json.loads((tmp_path / "run" / "status.json").read_text())
    assert (final["status"], final["step"], final["total_steps"]) == ("finished", 6, 6)


def test_an_aborted_run_says_so_and_names_the_step_a_resume_continues_from(tmp_path, fashion):
    """A second Ctrl-C aborts at once (a KeyboardInterrupt wherever the step is): status.json says stopped, at the
    last checkpoint's step, not 'running'."""
    def second_ctrl_c(event):
        if isinstance(event, StepMetrics) and event.step == 5:
            raise KeyboardInterrupt

    data = ImageData(fashion.images[:256], fashion.labels[:256], fashion.class_names, fashion.source)
    config = TrainConfig(dataset="fashion-mnist", steps=100, checkpoint_every=4, batch_size=16, g_width=8,
                         d_width=8, latent_dim=16, seed=0, sample_every=1000, log_every=1, tensorboard=False)
    trainer = Trainer(config, run_dir=tmp_path / "run", data=data, subscribers=[second_ctrl_c])
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert (status["status"], status["step"]) == ("stopped", 4), status
    assert status["message"] == "aborted at step 5; a resume continues from step 4, its last checkpoint"
    resumed = Trainer.resume(tmp_path / "run", data=data).setup()
    assert resumed.step == 4
    resumed.close()


def test_a_run_folder_deleted_during_training_stays_gone(tmp_path, fashion):
    """Atomic writes make missing parent folders: the failure's status.json (and a checkpoint, a sample) recreated
    a deleted run folder holding only that file. The run fails in one line that offers no resume."""
    def delete_the_folder(event):
        if isinstance(event, StepMetrics) and event.step == 5:
            shutil.rmtree(tmp_path / "run")

    data = ImageData(fashion.images[:256], fashion.labels[:256], fashion.class_names, fashion.source)
    config = TrainConfig(dataset="fashion-mnist", steps=100, checkpoint_every=4, batch_size=16, g_width=8,
                         d_width=8, latent_dim=16, seed=0, sample_every=6, log_every=1, tensorboard=False)
    trainer = Trainer(config, run_dir=tmp_path / "run", data=data, subscribers=[delete_the_folder])
    with pytest.raises(RunFolderGone, match="is gone .*nothing is left to resume: train a new run"):
        trainer.run()
    assert not (tmp_path / "run").exists()
    assert trainer.status == "failed"


def test_a_killed_run_names_its_last_checkpoint_and_its_resume_clears_unfinished_writes(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--run-dir", "r", "--steps", "100000",
                             "--checkpoint-every", "10", *TINY], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, **FIXED_THREADS})
    checkpoints = tmp_path / "r" / "checkpoints"
    until(lambda: (checkpoints / "step-0000020.pt").exists(), "a checkpoint at step 20")
    proc.send_signal(signal.SIGKILL)  # cannot be caught: nothing is written after it
    proc.wait()
    status = json.loads((tmp_path / "r" / "status.json").read_text())
    kept = {int(p.stem.split("-")[1]) for p in checkpoints.glob("step-*.pt")}
    assert status["status"] == "running" and status["step"] >= 10 and status["step"] in kept, (status, kept)

    # What a kill during a write leaves: the writer's own temp files, never renamed into place (checkpoints, the
    # exported G, the run's own files, sample grids, and an earlier version's fixed-name progress.gif temp).
    stale = [tmp_path / "r" / ".progress.gif.tmp"]
    stale[0].write_bytes(b"GIF89a half")
    run = tmp_path / "r"
    for target in (checkpoints / "last", checkpoints / "step-0000030.pt", run / "generator.safetensors",
                   run / "config.json", run / "metrics.jsonl", run / "samples" / "step-0000030.png"):
        fd, name = _temp_file(target)
        os.write(fd, b"half a checkpoint")
        os.close(fd)
        stale.append(name)
    notes = tmp_path / "r" / "checkpoints" / ".notes.tmp"  # not the writer's: left alone
    notes.write_text("mine")
    result = run_cli("train", "--resume", "r", "--steps", str(max(kept) + 2), "--no-progress", cwd=tmp_path,
                     env=FIXED_THREADS)
    assert result.returncode == 0, result.stderr
    assert not [name for name in stale if os.path.exists(name)] and notes.exists()
    log = (tmp_path / "r" / "log.txt").read_text()
    assert "removed the unfinished writes of a session killed while writing: " in log and "checkpoints/.last." in log
