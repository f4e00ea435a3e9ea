"""Experiment trackers as subscribers: TensorBoard (scalars + sample grids) and Weights & Biases."""

from __future__ import annotations

import math
import os
from typing import Any

from dcgan.events import EpochEnd, Event, SampleGrid, StatusChanged, StepMetrics
from dcgan.sampling import grid_array

# Metric key -> TensorBoard tag, grouped into panels by the part before the slash.
TAGS = {
    "loss_D": "loss/D", "loss_G": "loss/G",
    "D_x": "D/real D(x)", "D_G_z": "D/fake D(G(z))",
    "D_G_z_before": "D/fake before G update", "D_G_z_after": "D/fake after G update",
    "lr_G": "lr/G", "lr_D": "lr/D", "images_per_s": "speed/images per s",
}


def tag(key: str) -> str:
    return TAGS.get(key, key)


class TensorBoardLogger:
    """Writes event files into the run folder: `tensorboard --logdir runs` shows every run."""

    def __init__(self, run_dir: str | os.PathLike):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir))

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepMetrics):
            for key, value in event.metrics.items():
                if math.isfinite(value):
                    self.writer.add_scalar(tag(key), value, event.step)
        elif isinstance(event, EpochEnd):
            self.writer.add_scalar("time/epoch s", event.seconds, event.step)
        elif isinstance(event, SampleGrid):
            self.writer.add_image("samples/fixed noise", grid_array(event.images, event.nrow), event.step,
                                  dataformats="HW" if event.images.shape[1] == 1 else "HWC")
            self.writer.flush()
        elif isinstance(event, StatusChanged) and event.status in ("stopped", "finished", "failed"):
            self.writer.flush()


class WandbLogger:
    """Logs the same metrics and grids to Weights & Biases (WANDB_MODE=offline keeps them local)."""

    def __init__(self, run_dir: str | os.PathLike, project: str, config: dict[str, Any], name: str):
        import wandb

        self.wandb = wandb
        self.run = wandb.init(project=project, config=config, name=name, dir=str(run_dir), reinit=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepMetrics):
            self.run.log({tag(k): v for k, v in event.metrics.items()}, step=event.step)
        elif isinstance(event, SampleGrid):
            self.run.log({"samples/fixed noise": self.wandb.Image(grid_array(event.images, event.nrow))},
                         step=event.step)
        elif isinstance(event, StatusChanged) and event.status in ("stopped", "finished", "failed"):
            self.run.finish(exit_code=1 if event.status == "failed" else 0)
