"""Experiment trackers as subscribers: TensorBoard (scalars + sample grids) and Weights & Biases. Scalars are
logged under the metrics' own names (dcgan.vocabulary), slash names that group TensorBoard's panels."""

from __future__ import annotations

import math
import os
import secrets
import threading
from typing import Any

from dcgan.checkpoint import atomic_write_text
from dcgan.errors import ConfigError, first_line
from dcgan.events import ENDED, EpochEnd, Event, RealGrid, SampleGrid, StatusChanged, StepMetrics
from dcgan.rundir import WANDB_ID_FILE, inside
from dcgan.images import grid_array

class TensorBoardLogger:
    """Writes event files into the run folder: `tensorboard --logdir runs` shows every run."""

    def __init__(self, run_dir: str | os.PathLike):
        from torch.utils.tensorboard import SummaryWriter

        quiet_writer_threads()
        self.writer = SummaryWriter(log_dir=str(run_dir))

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepMetrics):
            for key, value in event.metrics.items():
                if math.isfinite(value):
                    self.writer.add_scalar(key, value, event.step)
        elif isinstance(event, EpochEnd):
            self.writer.add_scalar("time/epoch s", event.seconds, event.step)
        elif isinstance(event, SampleGrid):
            self.writer.add_image("samples/fixed noise", grid_array(event.images, event.nrow), event.step,
                                  dataformats="HW" if event.images.shape[1] == 1 else "HWC")
            self.writer.flush()
        elif isinstance(event, RealGrid):  # next to "samples/fixed noise" in the Images tab, at the same size
            self.writer.add_image("samples/real", grid_array(event.images, event.nrow), event.step,
                                  dataformats="HW" if event.images.shape[1] == 1 else "HWC")
        elif isinstance(event, StatusChanged) and event.status in ENDED:
            self.writer.flush()


def quiet_writer_threads() -> None:
    """TensorBoard writes its event files from a thread of its own, which keeps a failed write's error (a full
    disk) and raises it again at the next write from the training's thread, where the run says it in one line;
    threading's hook would print the thread's traceback first. Other threads' errors still reach the hook."""
    previous = threading.excepthook
    if getattr(previous, "quiets_writer_threads", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if type(args.thread).__name__ == "_AsyncWriterThread" and isinstance(args.exc_value, OSError):
            return
        previous(args)

    hook.quiets_writer_threads = True
    threading.excepthook = hook


def require_wandb() -> None:
    """Fail in one line, before a run starts, where W&B cannot log: the package is missing, its settings are
    invalid, or it is online without credentials (where wandb.init would prompt, or raise without a terminal)."""
    try:
        import wandb
    except ImportError:
        raise ConfigError("--wandb needs the wandb package: pip install 'dcgan[wandb]' (or train without --wandb)",
                          field="wandb") from None
    try:
        mode = wandb.setup().settings.mode
    except Exception as e:  # e.g. WANDB_MODE=typo fails W&B's own settings validation
        raise ConfigError(f"--wandb: W&B's settings are invalid ({first_line(e)}); WANDB_MODE is online, offline "
                          f"or disabled", field="wandb") from None
    if mode in ("offline", "dryrun", "disabled"):
        return
    try:
        # Reads WANDB_API_KEY, ~/.netrc (what `wandb login` writes) and W&B's settings files; never prompts.
        logged_in = wandb.login(prompt=False, verify=False)
    except TypeError:  # prompt= arrived in wandb 0.30
        raise ConfigError("--wandb needs wandb >= 0.30: pip install -U 'dcgan[wandb]'", field="wandb") from None
    except Exception as e:  # a malformed key
        raise ConfigError(f"--wandb: {first_line(e)}; run `wandb login` again, or log locally with "
                          f"WANDB_MODE=offline", field="wandb") from None
    if not logged_in:
        raise ConfigError("--wandb: no W&B API key on this machine; run `wandb login` once (or set WANDB_API_KEY), "
                          "or log locally with WANDB_MODE=offline and upload later with `wandb sync`", field="wandb")


class WandbLogger:
    """Logs the same metrics and grids to Weights & Biases (WANDB_MODE=offline keeps them in the run folder).

    A resumed run continues the same W&B run: its id is kept in the run folder (WANDB_ID_FILE)."""

    def __init__(self, run_dir: str | os.PathLike, project: str, config: dict[str, Any], name: str):
        import wandb

        self.wandb = wandb
        id_file = inside(run_dir, WANDB_ID_FILE)
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        try:
            self.run = wandb.init(project=project, config=config, name=name, dir=str(run_dir), id=run_id,
                                  resume="allow", reinit="create_new")
        except Exception as e:  # no network, a server that refuses the key: one line, not W&B's traceback
            raise ConfigError(f"--wandb: W&B could not start its run ({first_line(e)}); log locally with "
                              f"WANDB_MODE=offline and upload later with `wandb sync`", field="wandb") from None
        atomic_write_text(id_file, run_id)

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepMetrics):
            self.run.log(dict(event.metrics), step=event.step)
        elif isinstance(event, SampleGrid):
            self.run.log({"samples/fixed noise": self.wandb.Image(grid_array(event.images, event.nrow))},
                         step=event.step)
        elif isinstance(event, RealGrid):
            self.run.log({"samples/real": self.wandb.Image(grid_array(event.images, event.nrow))}, step=event.step)
        elif isinstance(event, StatusChanged) and event.status in ENDED:
            self.run.finish(exit_code=1 if event.status == "failed" else 0)
