"""The run folder's subscribers: RunFiles writes metrics.jsonl, samples/, progress.gif, status.json (at each
status change and each checkpoint) and log.txt from the trainer's events (the layout and formats are dcgan.rundir's);
RunWriters builds the subscribers that write a run's folder, for whoever starts a trainer to hand it (the CLI, the
server; `Trainer(config)` by default).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dcgan.config import TrainConfig
from dcgan.events import CheckpointSaved, Event, Log, RealGrid, RunStarted, SampleGrid, StatusChanged
from dcgan.rundir import PROGRESS_FILE, RunFolder, event_row
from dcgan.images import grid_array, labelled_rows, png_bytes, write_gif


class RunFiles:
    """Writes the run folder's files from the trainer's events, each through `rundir.inside`: a link planted in
    the folder is refused, never written through."""

    essential = True  # the run's own record: a write that fails (a full disk) stops the run (dcgan.events.EventBus)

    def __init__(self, run_dir: str | os.PathLike, gif_every: int = 1):
        self.folder = RunFolder(run_dir)
        self.run_dir = self.folder.path
        self.gif_every = gif_every
        self._status: dict[str, Any] = {}
        self._grids = 0

    def __call__(self, event: Event) -> None:
        row = event_row(event)
        if row is not None:  # logged steps, epoch ends, live changes
            self.folder.append_row(row)
        elif isinstance(event, RunStarted):
            self._status = {"total_steps": event.total_steps, "steps_per_epoch": event.steps_per_epoch,
                            "device": event.device}
            if event.resumed:
                self.folder.truncate_rows(event.start_step)
        elif isinstance(event, SampleGrid):
            self.folder.write_sample(event.step, png_bytes(labelled(event)))
            self._grids += 1
            if self._grids % self.gif_every == 0:
                write_gif(self.folder.sample_files(), self.folder.target(PROGRESS_FILE))
        elif isinstance(event, RealGrid):
            self.folder.write_real(png_bytes(labelled(event)))
        elif isinstance(event, StatusChanged):
            self._status.update(status=event.status, step=event.step, message=event.message,
                                updated=round(event.time, 3))
            self.folder.write_status(self._status)
        elif isinstance(event, Log):
            self.folder.append_log(event.level, event.message)
        elif isinstance(event, CheckpointSaved):
            # The trainer writes checkpoints itself (resuming depends on them, not on any subscriber). status.json
            # moves on with them, not with every step (cheap, and atomic like every write): a run killed with
            # SIGKILL, which nothing can catch, still names the step it would resume from.
            if self._status.get("status") is not None:
                self._status.update(step=event.step, checkpoint=event.step)
                self.folder.write_status(self._status)


def labelled(grid: SampleGrid | RealGrid) -> np.ndarray:
    """A grid event's image, its rows named on the left where they are a conditional run's classes."""
    array = grid_array(grid.images, grid.nrow)
    return labelled_rows(array, grid.row_labels, grid.images.shape[2]) if grid.row_labels else array


Subscriber = Callable[[Event], None]


class RunWriters:
    """The subscribers that write into a run's folder: RunFiles always, TensorBoard and Weights & Biases as the
    config asks (dcgan.tracking). The trainer calls `check` before its slow setup and anything is written (W&B
    that cannot log fails there, in one line) and `open` once the folder is made and locked, before config.json
    (a W&B run that cannot start leaves a folder that can be used again)."""

    def check(self, config: TrainConfig) -> None:
        if config.wandb:
            from dcgan.tracking import require_wandb

            require_wandb()

    def open(self, run_dir: Path, config: TrainConfig) -> list[Subscriber]:
        wandb: list[Subscriber] = []
        if config.wandb:  # first: when its run cannot start, nothing else has been written
            from dcgan.tracking import WandbLogger

            wandb.append(WandbLogger(run_dir, config.wandb_project, config.to_dict(), run_dir.name))
        writers: list[Subscriber] = [RunFiles(run_dir)]
        if config.tensorboard:
            from dcgan.tracking import TensorBoardLogger

            writers.append(TensorBoardLogger(run_dir))
        return writers + wandb
