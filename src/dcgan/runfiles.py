"""The run folder as a subscriber: metrics.jsonl, samples/, progress.gif, status.json, log.txt.

runs/<name>/
  config.json         the full resolved config (written by the trainer before the first step)
  metrics.jsonl       one JSON object per logged step, one per epoch end ("event": "epoch") and one per live
                      hyperparameter change ("event": "hparam", with field, old and new)
  changes.json        the live changes, replayed when the run resumes
  run.json            the reproducibility record: seed, versions, device, determinism, data fingerprint, commands
  samples/step-0000200.png   fixed-noise grids (when: dcgan.cadence)
  real.png            real training images laid out as those grids, at the same size
  progress.gif        those grids animated (an evenly spread subset for long runs: sampling.write_gif)
  wandb/, wandb-id    with --wandb: W&B's files and the W&B run's id (dcgan.tracking)
  status.json         the run's last known status, step and totals (for run lists)
  log.txt             the log lines
  checkpoints/        see dcgan.checkpoint
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from PIL import Image

from dcgan.checkpoint import atomic_write_text
from dcgan.events import (CheckpointSaved, EpochEnd, Event, HyperparameterChanged, Log, RealGrid, RunStarted,
                          SampleGrid, StatusChanged, StepMetrics)
from dcgan.rundir import inside
from dcgan.sampling import grid_array, write_gif

SAMPLES = "samples"
REAL_GRID = "real.png"
METRICS = "metrics.jsonl"


def sample_name(step: int) -> str:
    return f"step-{step:07d}.png"


def sample_step(path: Path) -> int:
    return int(path.stem.split("-")[1])


def json_safe(value: Any) -> Any:
    """NaN and infinity are not JSON: write them as strings a reader can still recognise."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class RunFiles:
    """Writes the run folder's files from the trainer's events, each through `inside`: a link planted in the
    folder is refused, never written through."""

    def __init__(self, run_dir: str | os.PathLike, gif_every: int = 1):
        self.run_dir = Path(run_dir)
        inside(self.run_dir, SAMPLES).mkdir(parents=True, exist_ok=True)
        self.gif_every = gif_every
        self._status: dict[str, Any] = {}
        self._grids = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._status = {"total_steps": event.total_steps, "steps_per_epoch": event.steps_per_epoch,
                            "device": event.device}
            if event.resumed:
                truncate_metrics(inside(self.run_dir, METRICS), event.start_step)
        elif isinstance(event, StepMetrics):
            self._append({"step": event.step, "epoch": event.epoch, "time": round(event.time, 3),
                          **({"manual": event.manual} if event.manual else {}),
                          **{k: json_safe(v) for k, v in event.metrics.items()}})
        elif isinstance(event, HyperparameterChanged):
            self._append({"event": "hparam", "step": event.step, "field": event.field, "old": event.old,
                          "new": event.new, "time": round(event.time, 3)})
        elif isinstance(event, EpochEnd):
            self._append({"event": "epoch", "step": event.step, "epoch": event.epoch,
                          "epoch_time_s": round(event.seconds, 3), "time": round(event.time, 3)})
        elif isinstance(event, SampleGrid):
            path = inside(self.run_dir, SAMPLES, sample_name(event.step))
            tmp = inside(self.run_dir, SAMPLES, f".{path.name}.tmp")
            Image.fromarray(grid_array(event.images, event.nrow)).save(tmp, format="PNG")
            os.replace(tmp, path)
            self._grids += 1
            if self._grids % self.gif_every == 0:
                grids = sorted((self.run_dir / SAMPLES).glob("step-*.png"))
                write_gif([inside(self.run_dir, SAMPLES, p.name) for p in grids], inside(self.run_dir, "progress.gif"))
        elif isinstance(event, RealGrid):
            path = inside(self.run_dir, REAL_GRID)
            tmp = inside(self.run_dir, f".{path.name}.tmp")
            Image.fromarray(grid_array(event.images, event.nrow)).save(tmp, format="PNG")
            os.replace(tmp, path)
        elif isinstance(event, StatusChanged):
            self._status.update(status=event.status, step=event.step, message=event.message,
                                updated=round(event.time, 3))
            atomic_write_text(inside(self.run_dir, "status.json"), json.dumps(self._status, indent=2))
        elif isinstance(event, Log):
            with open(inside(self.run_dir, "log.txt"), "a", encoding="utf-8") as f:
                f.write(f"{event.level}: {event.message}\n")
        elif isinstance(event, CheckpointSaved):
            pass  # the trainer writes checkpoints itself: resuming depends on them, not on any subscriber

    def _append(self, row: dict[str, Any]) -> None:
        with open(inside(self.run_dir, METRICS), "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl; a torn last line (a killed run) is ignored."""
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return rows


def truncate_metrics(path: Path, step: int) -> None:
    """Drop rows after `step`: a run resumed from a checkpoint at `step` logs those steps again."""
    if not path.exists():
        return
    rows = [r for r in read_metrics(path) if r.get("step", 0) <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
