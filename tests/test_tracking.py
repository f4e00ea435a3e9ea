"""Weights & Biases: one clear line where it cannot log (before anything is written), offline runs that hold what
training logged (read back with W&B's own reader), and runs that resume with or without it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from blocked_imports import env_without
from dcgan import Trainer, TrainConfig
from dcgan.rundir import NOT_METRICS, WANDB_ID_FILE, read_metrics

TINY = ["--steps", "4", "--log-every", "1", "--batch-size", "32", "--g-width", "16", "--d-width", "16", "--seed", "3",
        "--no-tensorboard", "--no-progress"]


def dcgan(*args, cwd, env=None):
    """The CLI in a fresh process. An in-process W&B run of an earlier test leaves WANDB_SERVICE set, which would
    hand the child's W&B run to this process's W&B service, to be written after the child has exited."""
    env = {k: v for k, v in (env or os.environ).items() if k != "WANDB_SERVICE"}
    return subprocess.run([sys.executable, "-m", "dcgan", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def small(**kw):
    base = dict(seed=8, batch_size=32, g_width=16, d_width=16, log_every=1, tensorboard=False)
    return TrainConfig(**{**base, **kw})


def wandb_records(run_folder):
    """The records of an offline W&B run, decoded by W&B's own reader (`wandb leet inspect --json`)."""
    (log,) = run_folder.glob("*.wandb")
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", str(log), "--json"], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_wandb_without_the_package_is_one_line_exit_2_and_writes_nothing(tmp_path):
    result = dcgan("train", "--wandb", *TINY, cwd=tmp_path, env=env_without(tmp_path / "blocked", "wandb"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dcgan train: error: --wandb needs the wandb package: pip install 'dcgan[wandb]' (or train without --wandb)"]
    assert not (tmp_path / "runs").exists()


def test_training_without_wandb_does_not_need_the_package(tmp_path):
    result = dcgan("train", "--run-dir", "plain", *TINY, cwd=tmp_path, env=env_without(tmp_path / "blocked", "wandb"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "plain" / "checkpoints" / "last").is_file()


def test_wandb_online_without_an_api_key_names_wandb_login_and_offline_mode(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") and k != "NETRC"}
    env.update(HOME=str(home), WANDB_MODE="online", WANDB_CONFIG_DIR=str(home / "wandb-config"))
    result = dcgan("train", "--wandb", *TINY, cwd=tmp_path, env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "`wandb login`" in line and "WANDB_MODE=offline" in line, line
    assert not (tmp_path / "runs").exists()


def test_an_offline_wandb_run_holds_the_losses_and_the_sample_grids(fashion, tmp_path):
    run = tmp_path / "r"
    Trainer(small(steps=12, wandb=True), run_dir=run, data=fashion).run()
    (offline,) = (run / "wandb").glob("offline-run-*")
    history = [r["history"]["item"] for r in wandb_records(offline) if r["type"] == "history"]
    by_step: dict[int, dict] = {}
    for item in history:
        by_step.setdefault(item["_step"], {}).update(item)

    rows = [r for r in read_metrics(run / "metrics.jsonl") if "loss/D" in r]
    assert [r["step"] for r in rows] == list(range(1, 13))
    for row in rows:
        assert by_step[row["step"]]["loss/D"] == pytest.approx(row["loss/D"], rel=1e-6)
        assert by_step[row["step"]]["loss/G"] == pytest.approx(row["loss/G"], rel=1e-6)
        assert by_step[row["step"]]["D/real"] == pytest.approx(row["D/real"], rel=1e-6)
        assert set(row) - NOT_METRICS <= set(by_step[row["step"]])  # W&B's keys are the metrics' own names

    grids = {s: item["samples/fixed noise.path"] for s, item in by_step.items() if "samples/fixed noise.path" in item}
    assert sorted(grids) == [0, 10, 12]
    for step, path in grids.items():
        logged = np.asarray(Image.open(offline / "files" / path).convert("L"))
        ours = np.asarray(Image.open(run / "samples" / f"step-{step:07d}.png"))
        assert logged.shape == (242, 242) and np.array_equal(logged, ours)


def test_a_wandb_run_resumes_without_wandb_and_the_other_way_round(tmp_path):
    made = dcgan("train", "--wandb", "--run-dir", "r", *TINY, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    run = tmp_path / "r"
    run_id = (run / WANDB_ID_FILE).read_text()
    assert [p.name.endswith(run_id) for p in (run / "wandb").glob("offline-run-*")] == [True]

    without = dcgan("train", "--resume", "r", "--steps", "8", "--no-wandb", "--no-progress", cwd=tmp_path)
    assert without.returncode == 0, without.stderr
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1
    assert json.loads((run / "config.json").read_text())["wandb"] is False

    again = dcgan("train", "--resume", "r", "--steps", "12", "--wandb", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    sessions = sorted((run / "wandb").glob("offline-run-*"))
    assert len(sessions) == 2 and all(p.name.endswith(run_id) for p in sessions)  # the same W&B run, continued
    history = [r["history"]["item"] for r in wandb_records(sessions[-1]) if r["type"] == "history"]
    steps = [item["_step"] for item in history if "loss/D" in item]
    assert min(steps) == 9 and max(steps) == 12  # the losses go on from the resumed step
    assert min(item["_step"] for item in history) == 8  # the real grid, drawn where the session starts
