"""The training loop. It emits events and honours a stop signal; it never prints.

    trainer = Trainer(TrainConfig(dataset="fashion-mnist", epochs=1), subscribers=[print])
    trainer.run()            # or, from another thread: trainer.request_stop()

The run folder's own files (config.json, changes.json, run.json, checkpoints/) are the trainer's: resuming depends
on them. Everything else in it is written by subscribers the caller hands over as `writers` (default: RunWriters,
the run files, TensorBoard and W&B as the config asks).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import shlex
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dcgan.cadence import every_n, sample_due
from dcgan.checkpoint import (GENERATOR_FILE, checkpoint_name, export_generator, load_checkpoint, resolve_checkpoint,
                              save_checkpoint, stale_temp_files)
from dcgan.config import TrainConfig, fork_config
from dcgan.control import FORK_FIXED, LIVE_FIELDS, MAX_LIVE_CHANGES, STEP_PARTS, Change, Commands
from dcgan.data import ImageData, epoch_order, load_dataset
from dcgan.device import cpu_has_native_bf16, resolve_device, resolve_precision
from dcgan.distributed import (PEER_FAILED, all_mean, any_process, current_world, lr_scale, main_value, peer_failed,
                               tell_failure, told_failure, wait_for_main)
from dcgan.errors import CheckpointError, ConfigError, DataError, RunFolderGone, refuse_a_file_in_the_way
from dcgan.events import (CheckpointSaved, EpochEnd, Event, EventBus, HyperparameterChanged, Log, RealGrid,
                          RunStarted, SampleGrid, StatusChanged, StepMetrics)
from dcgan.images import to_uint8
from dcgan.losses import LOSSES
from dcgan.metrics.health import HealthMonitor, loss_ratio, non_finite
from dcgan.models import build_discriminator, build_generator
from dcgan.rundir import (CHECKPOINTS, CONFIG_FILE, PROGRESS_FILE, SAMPLES, RunFolder, RunLock, check_links,
                          check_run_folder, checkpoint_in, make_run_folder, refuse_if_busy, session_record,
                          unique_run_dir)
from dcgan.runfiles import RunWriters
from dcgan.sampling import class_rows, fixed_inputs, real_grid
from dcgan.step import GanStep
from dcgan.threads import ThreadGovernor, governor_for
from dcgan.vocabulary import IMAGES_PER_S, LOSS_RATIO, LR_D, LR_G


class Diverged(Exception):
    """A loss or a weight became NaN or infinite: the run stops without writing a checkpoint of it."""


class IntervalSums:
    """Each step's values summed on the device (no host sync) since the last logged row, so that a row reports
    the mean of the --log-every steps it stands for: batch-16 steps are noisy, and one step picked out of every
    ten drew curves that jumped by more than the trend they were meant to show (and could alias with anything
    periodic in the run). A value a step only computes when it logs (D/fake_after_G) is its own mean."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, out: dict[str, torch.Tensor], take_means: bool) -> dict[str, torch.Tensor]:
        """Add one step's values; with take_means, return the interval's means and start a new interval."""
        for name, value in out.items():
            self.sums[name] = self.sums[name] + value if name in self.sums else value
            self.counts[name] = self.counts.get(name, 0) + 1
        if not take_means:
            return out
        means = {name: total / self.counts[name] for name, total in self.sums.items()}
        self.sums, self.counts = {}, {}
        return means


def training_checkpoint(path: Path, needing: str) -> Path:
    """`path` if it is a training checkpoint (.pt: weights, optimisers, step), else why `needing` cannot use it."""
    if path.suffix == ".pt":
        return path
    if path.suffix == ".safetensors":
        raise CheckpointError(f"{path} holds only generator weights; {needing} needs a training checkpoint")
    raise CheckpointError(f"{path} is not a checkpoint; {needing} needs a run folder (runs/<name>) or one of its "
                          f"training checkpoints (checkpoints/step-NNNNNNN.pt)")


class Trainer:
    """Trains one DCGAN run. Build with a config (a new run) or with `Trainer.resume(run_dir)`.

    `setup()` does the slow work (data, models, run folder) and is called by `run()` if needed; all bad input
    raises a DcganError from setup, before anything is written to disk.
    """

    def __init__(self, config: TrainConfig, *, run_dir: str | Path | None = None, runs_dir: str | Path = "runs",
                 subscribers: Iterable[Callable[[Event], None]] = (), data: ImageData | None = None,
                 write_files: bool = True, origin: str | None = None, writers: RunWriters | None = None):
        # What the user chose (config.json, checkpoints) and what training uses: the choices with the defaults
        # derived for this device (TrainConfig.resolved) and the live changes applied as they come.
        self.choices = config.with_seed()
        self.config = self.choices.resolved()
        self.events = EventBus(list(subscribers))
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.runs_dir = Path(runs_dir)
        self.write_files = write_files
        self.writers = writers if writers is not None else RunWriters()  # the subscribers that write the run folder
        self.data = data
        self.origin = origin or f"python: Trainer({config!r})"  # how the run was started, for run.json
        self.step = 0
        self.epoch = 0  # the current epoch (0-based) and the samples of it consumed so far
        self.position = 0
        self.resume_from: Path | None = None
        self.started_again = False  # a resumed run that had no checkpoint: it trains again from step 0
        self._latest_checkpoint_step: int | None = None  # a resumed run's last checkpoint before this session
        self.parent: dict[str, Any] | None = None  # the run and step a fork started from
        self.changes: list[Change] = []  # live hyperparameter changes, replayed on resume
        self._stop = threading.Event()
        self._commands = Commands()
        self._ready = False
        self._lock: RunLock | None = None  # held on the run folder from setup until run() returns
        self._checkpoint_step: int | None = None  # the step of the newest checkpoint on disk
        self._sample_step: int | None = None
        self._epoch_start = time.perf_counter()
        self.threads: ThreadGovernor | None = None  # lowers the intra-op threads when the CPU is shared
        self._removed_temps: list[str] = []  # temp files of writes a killed session left
        self._session: dict[str, Any] | None = None  # this session's entry in run.json
        self.status = "starting"

    # --- Construction -------------------------------------------------------------------------------------

    @classmethod
    def resume(cls, run_dir: str | Path, *, steps: int | None = None, epochs: int | None = None,
               device: str | None = None, minutes: float | None = None, wandb: bool | None = None,
               checkpoint: str | Path | None = None, subscribers: Iterable[Callable[[Event], None]] = (),
               data: ImageData | None = None, origin: str | None = None, writers: RunWriters | None = None
               ) -> "Trainer":
        """Continue a run from its last checkpoint (or `checkpoint`); a larger steps/epochs total extends it,
        `minutes` gives this session its own time budget, `wandb` turns W&B logging on or off from here.
        Live hyperparameter changes of the run are replayed at the steps they were made."""
        run_dir = Path(run_dir)
        if run_dir.is_file() and run_dir.parent.name == CHECKPOINTS:
            run = run_dir.parent.parent
            raise CheckpointError(f"{run_dir} is a checkpoint; resume its run with --resume {run} --checkpoint "
                                  f"{run_dir.name}")
        if not RunFolder(run_dir).has_config():
            raise CheckpointError(f"{run_dir} is not a run folder (no {CONFIG_FILE}); give a folder made by "
                                  f"`dcgan train`, e.g. runs/<name>")
        refuse_if_busy(run_dir)  # fail before the slow setup; the lock itself is taken when the folder opens
        check_links(run_dir)  # nothing is read through a link that leads outside the run folder
        overrides = {k: v for k, v in dict(device=device, minutes=minutes, wandb=wandb).items() if v is not None}
        if checkpoint is None and not RunFolder(run_dir).checkpoint_files():
            return cls._start_again(run_dir, steps, epochs, overrides, subscribers, data, origin, writers)
        path = training_checkpoint(resolve_checkpoint(checkpoint_in(run_dir, checkpoint) or run_dir), "resuming")
        state = load_checkpoint(path)
        config = TrainConfig.from_saved(state["config"])
        if steps is None and epochs is None:  # config.json's length: a session that extended the run may have
            saved = RunFolder(run_dir).config_values()  # ended before the checkpoint that would record it
            length = (saved.get("steps"), saved.get("epochs")) if isinstance(saved, dict) else None
            if length is not None and length != (config.steps, config.epochs):
                steps, epochs = length
        if steps is not None or epochs is not None:
            config = dataclasses.replace(config, steps=steps, epochs=epochs)
        config = dataclasses.replace(config, **overrides)  # minutes: the time budget is per session
        trainer = cls(config, run_dir=run_dir, subscribers=subscribers, data=data, origin=origin, writers=writers)
        trainer.resume_from = path
        trainer._latest_checkpoint_step = RunFolder(run_dir).last_checkpoint_step()
        trainer.changes = [Change(**c) for c in RunFolder(run_dir).changes() or state.get("changes", [])]
        return trainer

    @classmethod
    def _start_again(cls, run_dir: Path, steps: int | None, epochs: int | None, overrides: dict[str, Any],
                     subscribers: Iterable[Callable[[Event], None]], data: ImageData | None, origin: str | None,
                     writers: RunWriters | None) -> "Trainer":
        """A run stopped before its first checkpoint (killed in its first --checkpoint-every steps) has no state to
        continue from: it trains again from step 0 in its own folder, with its config.json (which holds its seed)
        and live changes, so that a killed run always resumes. Its earlier rows are dropped as for any resume."""
        folder = RunFolder(run_dir)
        saved = folder.config_values()
        if not isinstance(saved, dict):
            raise CheckpointError(f"{folder.file(CONFIG_FILE)} is damaged (not a JSON object) and the run has no "
                                  f"checkpoint: delete the folder and train again")
        config = TrainConfig.from_saved(saved)
        if steps is not None or epochs is not None:
            config = dataclasses.replace(config, steps=steps, epochs=epochs)
        config = dataclasses.replace(config, **overrides)
        trainer = cls(config, run_dir=run_dir, subscribers=subscribers, data=data, origin=origin, writers=writers)
        trainer.started_again = True
        trainer.changes = [Change(**c) for c in folder.changes()]
        return trainer

    @classmethod
    def fork(cls, parent_run: str | Path, changes: dict[str, Any] | None = None, *,
             checkpoint: str | Path | None = None, run_dir: str | Path | None = None,
             runs_dir: str | Path = "runs", subscribers: Iterable[Callable[[Event], None]] = (),
             data: ImageData | None = None, origin: str | None = None, writers: RunWriters | None = None
             ) -> "Trainer":
        """A new run that starts from a checkpoint of another run (its weights, optimisers, step and random
        state) with some options changed; it records its parent and the step it forked at."""
        path = training_checkpoint(resolve_checkpoint(checkpoint_in(parent_run, checkpoint) or parent_run), "a fork")
        state = load_checkpoint(path)
        changes = dict(changes or {})
        fixed = sorted(set(changes) & set(FORK_FIXED))
        if fixed:
            raise ConfigError(f"a fork keeps the parent's networks and data, so {fixed[0]!r} cannot change; start "
                              f"a new run instead", field=fixed[0])
        config = fork_config(state["config"], state.get("changes", []), int(state["step"]), changes)
        trainer = cls(config, run_dir=run_dir, runs_dir=runs_dir, subscribers=subscribers, data=data,
                      origin=origin, writers=writers)
        trainer.resume_from = path
        trainer.parent = {"run": str(Path(parent_run)), "checkpoint": str(path), "step": int(state["step"]),
                          "changes": changes}
        return trainer

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        self.events.subscribe(fn)

    def setup(self) -> "Trainer":
        if self._ready:
            return self
        cfg = self.config
        self.world = current_world()
        self._trained_processes = cfg.world_size  # a resumed run's, from its checkpoint
        cfg.world_size = self.choices.world_size = self.world.size
        if not self.world.is_main:  # only rank 0 writes files and serves events
            self.write_files = False
            self.events = EventBus()
        if self.write_files:  # before the data loads and anything is written
            self.writers.check(cfg)  # W&B that cannot log
            self.check_run_dir()
        self.device = resolve_device(cfg.device)
        if self.device.type == "cuda" and self.world.distributed:
            self.device = torch.device("cuda", self.world.local_rank)
        # A seed drawn at random (no --seed) is drawn on each process: all take rank 0's, the one run.json keeps.
        cfg.seed = self.choices.seed = main_value(cfg.seed, self.world, self.device)
        if cfg.sync_batchnorm and self.device.type != "cuda":
            raise ConfigError("--sync-batchnorm needs CUDA: PyTorch's SyncBatchNorm runs on GPUs only; drop it "
                              "on this device", field="sync_batchnorm")
        if self.data is None:
            self.data = load_dataset(cfg.dataset, cfg.data_dir, cfg.image_size, cfg.channels)
        n = len(self.data)
        if n < cfg.images_per_step():
            raise DataError(f"the dataset has {n} images, fewer than one step needs ({cfg.d_steps} x "
                            f"--batch-size {cfg.batch_size} x {self.world.size} processes); lower the batch "
                            f"size or add images")
        # A step is d_steps D updates (each on a fresh global batch) and one G update; the last partial batch of
        # an epoch is dropped.
        self.steps_per_epoch = n // cfg.images_per_step()
        self.total_steps = cfg.steps if cfg.steps is not None else cfg.epochs * self.steps_per_epoch
        if cfg.conditional:
            self._set_num_classes()
        self._build_networks()
        self._build_inputs()
        self._build_monitors()
        if self.resume_from is not None:
            self._load_state(load_checkpoint(self.resume_from, map_location="cpu"))
            if self.step >= self.total_steps:
                where = self.parent["run"] if self.parent else self.run_dir
                raise ConfigError(f"{where} is already at step {self.step} of {self.total_steps}; to train on, give "
                                  f"more --steps (or --epochs) in all", field="steps")
        for change in self.changes:  # in effect at the checkpoint already (or before step 1 of a run started again)
            if change.step <= self.step:
                setattr(self.config, change.field, change.new)
        if self.write_files:
            self._open_run_dir()
        self._ready = True
        return self

    def _build_networks(self) -> None:
        """G, D, their optimisers, the EMA copy and the process wrappers, initialised from the seed, and the step
        that trains them (dcgan.step) with its noise stream."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.G = build_generator(cfg).to(self.device, memory_format=layout)
        self.D = build_discriminator(cfg).to(self.device, memory_format=layout)
        # Adam with beta1 0.5 (Radford et al. 2015, section 4); G and D may differ (TTUR). The fused kernel
        # updates all parameters in one pass: one launch on CUDA, and 3.5-8x faster than the per-parameter loop
        # on the CPU (scripts/bench_optimizer.py); MPS keeps the default.
        adam = dict(betas=(cfg.beta1, cfg.beta2), fused=True if self.device.type in ("cuda", "cpu") else None)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, **adam)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, **adam)
        # An exponential moving average of G's weights, for samples, exports and evaluation (Yazici et al. 2019).
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.ema else None
        self.lr_scale = lr_scale(cfg.lr_scaling, self.world.size)
        if cfg.compile:
            self.G.compile()
            self.D.compile()
        G_train, D_train = self._wrap_for_processes()
        # bf16 autocast: matmuls and convolutions in bfloat16, weights, BatchNorm and losses in fp32.
        self.precision = resolve_precision(cfg.precision, self.device)
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        self.layout = layout
        self.gan_step = GanStep(
            cfg, self.G, self.D, G_train, D_train, self.opt_G, self.opt_D, self.G_ema, LOSSES[cfg.loss],
            noise_gen=torch.Generator(device=self.device).manual_seed(cfg.seed), world=self.world,
            device=self.device, autocast=self.autocast, lr_scale=self.lr_scale, augmentations=cfg.augmentations(),
            # A CUDA graph of the whole step (dcgan.step.CapturedStep): one process (gradient averaging between
            # processes is not captured) and not compiled (torch.compile makes graphs of its own).
            cuda_graph=cfg.cuda_graph and self.device.type == "cuda" and not self.world.distributed
            and not cfg.compile,
            on_graph_failure=lambda why: self.events.emit(Log(
                "warning", f"the training step could not be captured in a CUDA graph ({why}); it runs without "
                           f"one from here on, slower on small networks (--no-cuda-graph skips the attempt)")))

    def _build_inputs(self) -> None:
        """The fixed noise of the sample grid and the dataset placed for training."""
        cfg = self.config
        # The fixed noise is drawn on the CPU so the same seed gives the same grid on every device.
        self.fixed_noise, self.fixed_labels, self.grid_columns = fixed_inputs(cfg)
        self.fixed_noise = self.fixed_noise.to(self.device)
        self.fixed_labels = self.fixed_labels.to(self.device) if self.fixed_labels is not None else None
        self.images = self._place_images(self.data.images)
        self.labels = self.data.labels.to(self.images.device) if cfg.conditional else None

    def _build_monitors(self) -> None:
        """The health monitor and, with --eval-every, the periodic evaluator (on the main process only). The
        evaluator's feature extractor is found here, so a missing one fails before anything is written."""
        cfg = self.config
        self.health = HealthMonitor(cfg.loss)
        self.evaluator = None
        self._eval_seconds = 0.0
        self._interval = IntervalSums()  # what the next logged row averages
        if cfg.eval_every and self.world.is_main:
            from dcgan.metrics.evaluate import TrainingEvaluator

            self.evaluator = TrainingEvaluator(cfg, self.data, self.device, cfg.eval_samples, cfg.eval_features)

    def _wrap_for_processes(self) -> tuple[nn.Module, nn.Module]:
        """DistributedDataParallel wrappers that average G's and D's gradients over the processes; G and D
        themselves stay unwrapped for sampling, metrics and checkpoints (which any world size can load)."""
        if not self.world.distributed:
            return self.G, self.D
        if self.config.sync_batchnorm:
            self.G = nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
            self.D = nn.SyncBatchNorm.convert_sync_batchnorm(self.D)
        ids = [self.device.index] if self.device.type == "cuda" else None
        # A 1-channel D's first weight (w, 1, 4, 4) in channels_last: the penalties' double backward gives its
        # gradient contiguous strides, the same memory order for one channel, which DDP's literal stride check
        # reports as a mismatch in 4 lines per process. RGB weights keep their strides: no warning to hide there.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        return (DistributedDataParallel(self.G, device_ids=ids), DistributedDataParallel(self.D, device_ids=ids))

    def _set_num_classes(self) -> None:
        if self.data.labels is None:
            raise DataError(f"--conditional needs class labels, and {self.data.source} has none (a folder needs "
                            f"one sub-folder of images per class, two or more, and no images beside them)")
        found = max(len(self.data.class_names), int(self.data.labels.max()) + 1)
        if self.config.num_classes is not None and self.config.num_classes != found:
            if self.resume_from is not None:  # a resumed or forked run: its networks have that many classes
                raise ConfigError(f"the run was trained with {self.config.num_classes} classes but the data has "
                                  f"{found}; continue it on the data it was trained on", field="num_classes")
            raise ConfigError(f"--num-classes {self.config.num_classes} does not match the data: "
                              f"{self.data.source} has {found} classes; leave --num-classes out (a conditional "
                              f"run takes it from the data)", field="num_classes")
        self.config.num_classes = self.choices.num_classes = found

    def _place_images(self, images: torch.Tensor) -> torch.Tensor:
        """Keep the uint8 dataset on the training device when it fits in a quarter of its free memory."""
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            if images.numel() < free // 4:
                return images.to(self.device)
            return images.pin_memory()
        if self.device.type == "mps":
            return images.to(self.device)
        return images

    def check_run_dir(self) -> None:
        """Refuse a folder this session may not train in, without writing anything (setup asks before the data
        loads, and again as it opens the folder; a dry run asks too): a run already there unless this session
        resumes it, a file in the way, or a folder of other files."""
        if self.run_dir is None:
            refuse_a_file_in_the_way(self.runs_dir, "--runs-dir", "choose a folder for the runs")
            return
        fresh = (self.resume_from is None or self.parent) and not self.started_again
        if fresh and (self.run_dir / CONFIG_FILE).exists():
            if RunFolder(self.run_dir).last_checkpoint_step() is None:
                refuse_if_busy(self.run_dir)  # not yet at its first checkpoint, but alive
                raise ConfigError(f"{self.run_dir} holds a run that ended before its first checkpoint; resume it with "
                                  f"--resume {self.run_dir} (it trains again from step 0) or choose another "
                                  f"--run-dir", field="run_dir")
            raise ConfigError(f"{self.run_dir} already holds a run; resume it with --resume {self.run_dir} "
                              f"(Python: Trainer.resume({str(self.run_dir)!r})) or choose another --run-dir",
                              field="run_dir")
        check_run_folder(self.run_dir)

    def _open_run_dir(self) -> None:
        option = "--run-dir" if self.run_dir is not None else "--runs-dir"
        self.check_run_dir()
        if self.run_dir is None:
            self.run_dir = unique_run_dir(self.runs_dir, self.config)
        # One writer per run: the lock is taken before anything is written, and no link may lead out of the folder.
        make_run_folder(self.run_dir, option)
        self._lock = RunLock(self.run_dir).acquire()
        try:
            check_links(self.run_dir)
            folder = RunFolder(self.run_dir)
            folder.file(CHECKPOINTS).mkdir(parents=True, exist_ok=True)
            self._remove_unfinished_writes(folder)
            writers = self.writers.open(self.run_dir, self.config)  # before config.json (see RunWriters)
            folder.write_config(self.choices)
            session = session_record(self.origin, self.step, str(self.device), self.world.size, self.precision,
                                     self.config.dataset, self.data)
            folder.add_session(session, seed=self.config.seed, parent=self.parent)
            self._session = session
        except BaseException:
            self.close()  # a folder that could not be opened is free for the next try
            raise
        self.events.subscribers[:0] = writers  # files first: a dashboard told of a sample can read its PNG

    def _remove_unfinished_writes(self, folder: RunFolder) -> None:
        """Delete the temp files of writes that never finished (a session killed while writing a checkpoint, a
        sample grid, config.json, ...): with the run's lock held, no other process writes them."""
        stale = {f"{where}{path.name}": path for where, files in (
            ("", stale_temp_files(folder.file("."))), (f"{CHECKPOINTS}/", stale_temp_files(folder.file(CHECKPOINTS))),
            (f"{SAMPLES}/", stale_temp_files(folder.file(SAMPLES)))) for path in files}
        earlier_gif = folder.file(f".{PROGRESS_FILE}.tmp")  # an earlier version's fixed name for progress.gif's
        if earlier_gif.is_file() and not earlier_gif.is_symlink():
            stale[earlier_gif.name] = earlier_gif
        for path in stale.values():
            path.unlink(missing_ok=True)
        self._removed_temps = list(stale)

    def _record_threads(self, changed_from: int | None = None) -> None:
        """run.json's thread count as training uses it: counted in the thread that trains (a server's is not the one
        that set up), whether the governor may lower it (dcgan.threads: not when OMP_NUM_THREADS chose it), and
        each count it lowered to with the step it took effect from. Float sums differ with the count, so a seeded
        run repeats number for number only with the same counts."""
        if self._session is None:
            return
        determinism = self._session["determinism"]
        if changed_from is None:
            determinism.update(threads=torch.get_num_threads(), threads_adaptive=self.threads is not None)
        else:
            determinism.setdefault("threads_changes", []).append(
                {"from_step": changed_from, "threads": torch.get_num_threads()})
        RunFolder(self.run_dir).update_session(self._session)

    # --- Control from other threads -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Finish the current step, write a checkpoint and return from run() with status 'stopped'."""
        self._stop.set()
        self._commands.put("wake")

    def request_checkpoint(self) -> None:
        """Write a checkpoint after the current step (also while paused)."""
        self._commands.put("checkpoint")

    def pause(self) -> None:
        """Hold at the next step boundary, in place (nothing is reloaded), with status 'paused'."""
        self._single_process("pausing")
        self._commands.put("pause")

    def unpause(self) -> None:
        self._commands.put("continue")

    def single_step(self, part: str = "full") -> None:
        """While paused: one D update ('d'), one G update ('g') or one full step ('full'), then hold again.
        The step is reported and sampled like any other."""
        if part not in STEP_PARTS:
            raise ConfigError(f"a single step is one of {', '.join(STEP_PARTS)}, not {part!r}", field="part")
        self._single_process("single steps")
        self._commands.put("step", STEP_PARTS[part])

    def set_hyperparameters(self, **changes: Any) -> None:
        """Change live hyperparameters (LIVE_FIELDS); they take effect at the next step. Bad values raise
        ConfigError here, in the caller's thread."""
        unknown = sorted(set(changes) - set(LIVE_FIELDS))
        if unknown:
            raise ConfigError(f"{unknown[0]!r} cannot change during training; live options: "
                              f"{', '.join(LIVE_FIELDS)} (fork the run to change others)", field=unknown[0])
        dataclasses.replace(self.config, **changes).validate()
        if not self._commands.put_changes(changes, room=MAX_LIVE_CHANGES - len(self.changes)):
            raise ConfigError(f"this run has {len(self.changes) + self._commands.queued_changes} live changes, "
                              f"recorded or queued; the most one run keeps is {MAX_LIVE_CHANGES}: fork it (`dcgan "
                              f"train --fork <run>`, or the dashboard's Fork) to go on changing",
                              field=next(iter(changes)))

    @property
    def paused(self) -> bool:
        return self._commands.paused

    def _single_process(self, what: str) -> None:
        if self._ready and self.world.distributed:
            raise ConfigError(f"{what} is for single-process runs: the other processes would wait on it")

    # --- The loop -----------------------------------------------------------------------------------------

    def run(self) -> str:
        """Train until the total step count or a stop request; returns the final status."""
        try:
            return self._train()
        finally:
            self.close()

    def close(self) -> None:
        """Let go of the run folder (its lock), so another trainer may resume it."""
        if self._lock is not None:
            self._lock.release()

    def _train(self) -> str:
        self.setup()
        self._announce()
        self._set_status("running")
        if self.step == 0:
            self._sample()  # the starting point of the progress grid
        self._tick = (time.perf_counter(), self.step)
        # Made in the thread that trains: intra-op threads are that thread's setting (a server trains in its own).
        self.threads = governor_for(self.device.type, torch.get_num_threads(), self.world.size)
        self._record_threads()
        budget = self.config.minutes * 60 or math.inf  # --minutes: seconds of stepping, pauses excluded
        trained = 0.0
        try:
            while True:
                self._serve_commands()
                out_of_time = trained >= budget
                if self.step >= self.total_steps or any_process(self._stop.is_set() or out_of_time, self.world,
                                                                self.device):
                    break
                start = time.perf_counter()
                self._advance("dg")
                trained += time.perf_counter() - start
            if self._sample_step != self.step:
                self._sample()
            if self._checkpoint_step != self.step:
                self._checkpoint()
        except Diverged as e:
            return self._diverged(e)
        except KeyboardInterrupt:  # a second Ctrl-C: aborted without a checkpoint of this step
            self.events.best_effort = True
            kept = self._checkpoint_step
            self._set_status("stopped", f"aborted at step {self.step:,}; " + (
                f"a resume continues from step {kept:,}, its last checkpoint" if kept is not None else
                "no checkpoint was written: a resume trains it again from step 0"), step=kept or 0)
            raise
        except Exception as e:
            self.events.best_effort = True  # a full disk may refuse these last words too: the error is told anyway
            kept = None if isinstance(e, RunFolderGone) else self._checkpoint_step
            resume = f"; a resume continues from step {kept:,}, its last checkpoint" if kept is not None else ""
            reason = str(e) or repr(e)
            if self.world.distributed and peer_failed(e):  # what the process that failed first left, if it could
                reason = told_failure() or PEER_FAILED
            elif self.world.distributed:
                tell_failure(f"training process {self.world.rank} of {self.world.size} failed: {reason}")
            self.events.emit(Log("error", f"training failed at step {self.step:,}: {reason}{resume}"))
            self._set_status("failed", f"{reason}{resume}")
            raise
        if self.step < self.total_steps and trained >= budget:
            self._set_status("finished", f"the {self.config.minutes:g}-minute budget ended at step {self.step:,}")
            return self.status
        stopped = self.step < self.total_steps
        self._set_status("stopped" if stopped else "finished",
                         f"stopped at step {self.step:,}" if stopped else f"finished {self.step:,} steps")
        return self.status

    def _diverged(self, e: Diverged) -> str:
        """Stop cleanly after a NaN/inf: no checkpoint or sample of the broken weights; say which one is good."""
        if self._checkpoint_step is not None and self.run_dir is not None:
            # A resume keeps the run's options (it refuses --lr): a fork from the checkpoint changes them.
            name = checkpoint_name(self._checkpoint_step)
            kept = (f"the last good checkpoint is step {self._checkpoint_step} ({self.run_dir / CHECKPOINTS / name}); "
                    f"fork a run from it with a lower learning rate or with --r1 1: dcgan train --fork "
                    f"{shlex.quote(str(self.run_dir))} --checkpoint {name} --lr {self.config.lr / 2:g}; or train "
                    f"anew with --spectral-norm")
        else:
            kept = "no checkpoint was written before it; try a lower --lr, --r1 1 or --spectral-norm"
        message = f"health: training diverged: {e}; stopped, {kept}"
        self.events.emit(Log("error", message))
        self._set_status("failed", message)
        return self.status

    def _announce(self) -> None:
        cfg, emit = self.config, self.events.emit
        emit(RunStarted(str(self.run_dir) if self.run_dir else "", self.config.to_dict(),
                        str(self.device), self.step, self.total_steps, self.steps_per_epoch,
                        resumed=(self.resume_from is not None or self.started_again) and self.parent is None))
        graph = ""
        if self.gan_step.cuda_graph:
            eager = [name for name, on in (("--ema", cfg.ema), ("--instance-noise", cfg.instance_noise)) if on]
            graph = (f" (steps without a CUDA graph: {' and '.join(eager)} change{'s' * (len(eager) == 1)} with "
                     f"every step)" if eager else " (each step replayed from a CUDA graph)")
        emit(Log("info", f"device: {self.device}{graph}"))
        emit(Log("info", f"data: {len(self.data)} images of {cfg.channels}x{cfg.image_size}x{cfg.image_size} "
                         f"from {self.data.source}"))
        if self.data.skipped:
            emit(Log("warning", self.data.skipped_note()))
        if cfg.conditional:  # what --class will take: the labels and their names
            names = ", ".join(class_rows(self.class_names)) if self.class_names else f"0 to {cfg.num_classes - 1}"
            emit(Log("info", f"conditional: {cfg.num_classes} classes (D takes labels by {cfg.d_conditioning}): "
                             f"{names}"))
        if self.precision == "bf16" and self.device.type == "cpu" and not cpu_has_native_bf16():
            emit(Log("warning", "--precision bf16: this CPU has no native bfloat16 (AVX512-BF16 or AMX), so bf16 is "
                                "emulated and slower than fp32; use --precision fp32"))
        rates = f"learning rates G {cfg.lr_g * self.lr_scale:g}, D {cfg.lr_d * self.lr_scale:g}"
        if self.world.size == 1:  # nothing to multiply or scale: "1 process(es) x 16 ... (scaling: none)" was noise
            emit(Log("info", f"{self._length()}; batch {cfg.batch_size}; {rates}"))
        else:
            emit(Log("info", f"{self._length()}; effective batch {cfg.batch_size * self.world.size} = "
                             f"{self.world.size} process(es) x {cfg.batch_size}; {rates} (scaling: {cfg.lr_scaling})"))
        if self.parent is not None:
            emit(Log("info", f"forked from {self.parent['run']} at step {self.step} with {self.parent['changes']}"))
        elif self.started_again:
            emit(Log("info", "resumed from step 0: the run had stopped before its first checkpoint, so it trains "
                             "again from the start with its own options and seed"))
        elif self.resume_from is not None:
            emit(Log("info", f"resumed from {self.resume_from} at step {self.step}"))
            before, now = self._trained_processes, self.world.size
            if before != now:  # the same options, another effective batch (and, scaled, other learning rates)
                emit(Log("warning", f"resumed on {now} process{'es' * (now != 1)}; it trained on {before} "
                                    f"process{'es' * (before != 1)} until now: the effective batch goes from "
                                    f"{cfg.batch_size * before} to {cfg.batch_size * now}"))
            latest = self._latest_checkpoint_step
            if latest is not None and latest > self.step:  # --checkpoint chose an earlier one: the run rewinds
                emit(Log("warning", f"resumed at step {self.step}, before the run's last checkpoint (step {latest}): "
                                    f"the steps after {self.step} are trained again and their logged metrics "
                                    f"replaced; `dcgan train --fork {self.run_dir} --checkpoint "
                                    f"{self.resume_from.name}` would keep them and train a new run instead"))
        if self._removed_temps:
            emit(Log("info", f"removed the unfinished writes of a session killed while writing: "
                             f"{', '.join(self._removed_temps)}"))
        for change in self.changes:
            if change.step <= self.step:
                emit(Log("info", f"replayed: {change.field} = {change.new} from step {change.step + 1}"))
        # What G aims at, beside its fixed-noise grids.
        emit(RealGrid(self.step, *real_grid(cfg, self.data), self.row_labels))

    def _length(self) -> str:
        """"18,750 steps = 5 epochs x 3,750", "600 steps (0.16 epochs)", with ", at most 5 minutes" for a time budget:
        what the progress bar's total counts."""
        cfg, total = self.config, self.total_steps
        length = f"{total:,} step{'s' * (total != 1)}"
        if cfg.steps is None:
            length += f" = {cfg.epochs} epoch{'s' * (cfg.epochs != 1)} x {self.steps_per_epoch:,}"
        else:
            length += f" ({total / self.steps_per_epoch:.2g} epochs)"
        return length + (f", at most {cfg.minutes:g} minutes" if cfg.minutes else "")

    def _serve_commands(self) -> None:
        """Carry out queued commands at this step boundary; while paused, wait here (single steps run here)."""
        while True:
            command = self._commands.next(wait=self.paused and not self._stop.is_set())
            if command is None:
                if self.paused and not self._stop.is_set():
                    continue
                return
            kind, arg = command
            if kind == "pause" and not self.paused:
                self._commands.paused = True
                self._set_status("paused", "paused: continue, or train one step of D or G at a time")
            elif kind == "continue" and self.paused:
                self._commands.paused = False
                self._tick = (time.perf_counter(), self.step)  # images/s should not count the pause
                self._set_status("running")
            elif kind == "set":
                try:
                    self._apply_changes(arg)
                finally:
                    self._commands.changes_done(arg)
            elif kind == "checkpoint":
                self._checkpoint()
            elif kind == "step" and self.paused and self.step < self.total_steps:
                self._advance(arg, manual=True)

    def _advance(self, parts: str, manual: bool = False) -> None:
        """One step on the next batch: D's updates ('d'), G's ('g') or both; report and snapshot after it."""
        cfg = self.config
        real, labels = self.next_batch()
        eval_now = not manual and cfg.eval_every > 0 and (self.step + 1) % cfg.eval_every == 0
        log_now = manual or eval_now or (self.step + 1) % cfg.log_every == 0 or self.step + 1 == self.total_steps
        if self.threads is not None:
            self.threads.start_step()
        out = self.train_step(real, labels, with_after=log_now and "g" in parts, parts=parts)
        self.step += 1
        if not manual:  # a single step from the dashboard reports its own values
            out = self._interval.add(out, take_means=log_now)
        dropped = self.threads.end_step() if self.threads is not None else None
        if dropped is not None:
            threads, cores = dropped
            torch.set_num_threads(threads)
            self._record_threads(changed_from=self.step + 1)
            # Each thread waits for the others at every operation, so one thread fewer runs faster here.
            self.events.emit(Log("warning", f"the CPU is shared: the steps got {cores:.1f} cores for their "
                                            f"{threads + 1} threads; continuing with {threads}, faster on a busy CPU "
                                            f"(OMP_NUM_THREADS=N fixes the count)"))

        # Evaluate (--eval-every), then report: the eval/* numbers go out with this step's metrics.
        extra = self._evaluate() if eval_now else {}
        if eval_now:
            wait_for_main(self.world)  # rank 0 alone evaluates: the others wait for it, longer than a collective
        if log_now:
            self._report(out, manual=parts if manual else None, extra=extra)
        epoch_done = self.position + self.config.images_per_step() > len(self.data)
        if epoch_done:
            self.events.emit(EpochEnd(self.step, self.epoch + 1, time.perf_counter() - self._epoch_start))
        # Snapshot (dcgan.cadence: early grids, then by steps; by epochs at an epoch's end). A checkpoint comes
        # after the epoch count moves on, so a resumed run does not end that epoch a second time.
        if manual or sample_due(self.step, cfg.sample_every) or (
                epoch_done and every_n(self.epoch + 1, cfg.sample_every_epochs)):
            self._sample()
        if epoch_done:
            self.epoch, self.position, self._epoch_start = self.epoch + 1, 0, time.perf_counter()
        if every_n(self.step, cfg.checkpoint_every) or (
                epoch_done and every_n(self.epoch, cfg.checkpoint_every_epochs)):
            self._checkpoint()
        # Replay the live changes a resumed run had made after this step.
        replay = [c for c in self.changes if c.step == self.step]
        if replay:
            self._apply_changes({c.field: c.new for c in replay}, record=False)

    def _report(self, out: dict[str, torch.Tensor], manual: str | None, extra: dict[str, float] | None = None
                ) -> None:
        cfg, now = self.config, time.perf_counter()
        names = sorted(out)
        values = all_mean(torch.stack([out[k].float() for k in names]), self.world).tolist()
        metrics = dict(zip(names, values))  # the one host sync per logged step
        tick_time, tick_step = self._tick
        images = (self.step - tick_step) * cfg.images_per_step()
        # Training speed: the time an evaluation took is not training time.
        metrics[IMAGES_PER_S] = images / max(now - tick_time - self._eval_seconds, 1e-9)
        self._eval_seconds = 0.0
        metrics[LR_G], metrics[LR_D] = self.gan_step.learning_rates
        ratio = loss_ratio(cfg.loss, cfg.feature_matching, metrics)  # the balance of G and D, seed 003
        if ratio is not None and math.isfinite(ratio):
            metrics[LOSS_RATIO] = ratio
        metrics.update(extra or {})
        self.events.emit(StepMetrics(self.step, self.epoch, metrics, manual=manual))
        self._tick = (now, self.step)
        # Health: NaN/inf stops the run (checked on every process: the values are averaged over all of them).
        broken = non_finite({k: metrics[k] for k in names})
        if broken:
            raise Diverged(f"{', '.join(broken)} became NaN or infinite at step {self.step}")
        for warning in self.health.observe_step(self.step, metrics):
            self.events.emit(Log("warning", warning))

    def _evaluate(self) -> dict[str, float]:
        """Sample quality of the sampling G now (main process): eval/* metrics, a log line, collapse warnings."""
        if self.evaluator is None:
            return {}
        start = time.perf_counter()
        report = self.evaluator(self.sampling_generator, self.step)
        self._eval_seconds = time.perf_counter() - start
        values = {**self.evaluator.logged(report), "eval/seconds": self._eval_seconds}
        m = report.metrics
        summary = [f"FID {m['fid']:.3f}" if "fid" in m else "",
                   f"KID {m['kid']:.4f}" if "kid" in m else "",
                   f"precision {m['precision']:.3f} recall {m['recall']:.3f}" if "precision" in m else "",
                   f"classes {m['classes_covered']:.0f}/{m['num_classes']:.0f}" if "classes_covered" in m else ""]
        self.events.emit(Log("info", f"eval at step {self.step} ({report.samples} samples, "
                                     f"{self.evaluator.extractor.name}): {', '.join(x for x in summary if x)} "
                                     f"({self._eval_seconds:.1f} s)"))
        for warning in self.health.observe_eval(self.step, m):
            self.events.emit(Log("warning", warning))
        return values

    def _apply_changes(self, changes: dict[str, Any], record: bool = True) -> None:
        """Set live hyperparameters from the next step on; recorded in changes.json and as events."""
        for name, new in changes.items():
            old = getattr(self.config, name)
            if old == new:
                continue
            setattr(self.config, name, new)
            if record:
                self.changes.append(Change(self.step, name, old, new))
            self.events.emit(HyperparameterChanged(self.step, name, old, new))
        if record and self.write_files:
            RunFolder(self.run_dir).write_changes([c.as_dict() for c in self.changes])

    def train_step(self, real: torch.Tensor, labels: torch.Tensor | None = None, with_after: bool = False,
                   parts: str = "dg") -> dict[str, torch.Tensor]:
        """d_steps D updates then one G update at this step (dcgan.step.GanStep): 0-dim tensors, no host sync."""
        return self.gan_step(real, labels, self.step, self.total_steps, with_after, parts)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next step's real images and labels from this epoch's order (a function of seed and epoch)."""
        per_step = self.config.images_per_step()
        if self.position + per_step > len(self.data):  # d_steps grew mid-epoch: the epoch ends here
            self.events.emit(EpochEnd(self.step, self.epoch + 1, time.perf_counter() - self._epoch_start))
            self.epoch, self.position, self._epoch_start = self.epoch + 1, 0, time.perf_counter()
        if getattr(self, "_order_epoch", None) != self.epoch:
            self._order = epoch_order(len(self.data), self.config.seed, self.epoch).to(self.images.device)
            self._order_epoch = self.epoch
        chunk = self._order[self.position:self.position + per_step]
        self.position += per_step
        return self.batch(chunk)

    def batch(self, chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This process's real images (d_steps*B, C, H, W) in [-1, 1] and labels from a step's sample indices:
        each of the d_steps global batches is split between the processes, so every sample of an epoch is
        seen once by one process."""
        cfg, world = self.config, self.world
        mine = chunk.view(cfg.d_steps, world.size, cfg.batch_size)[:, world.rank].reshape(-1)
        real = self.images[mine].to(self.device, non_blocking=True).float().div_(127.5).sub_(1)
        labels = self.labels[mine].to(self.device) if self.labels is not None else None
        return real.contiguous(memory_format=self.layout), labels

    # --- Snapshots ----------------------------------------------------------------------------------------

    @property
    def sampling_generator(self) -> nn.Module:
        """The G that samples, exports and evaluations use: the moving average when --ema is on."""
        return self.G_ema if self.G_ema is not None else self.G

    @torch.no_grad()
    def sample_fixed(self) -> torch.Tensor:
        """G(fixed noise) in eval mode (BatchNorm running statistics) as uint8 (N, C, H, W)."""
        g = self.sampling_generator
        was_training = g.training
        g.eval()
        try:
            return to_uint8(g(self.fixed_noise, self.fixed_labels))
        finally:
            g.train(was_training)

    def _sample(self) -> None:
        self._sample_step = self.step
        if not self.world.is_main:
            return
        self.events.emit(SampleGrid(self.step, self.epoch, self.sample_fixed(), self.grid_columns, self.row_labels))

    def state_dict(self) -> dict[str, Any]:
        """A training checkpoint (dcgan.checkpoint): the choices, the position in the data, the live changes, the
        fixed noise, and the networks, optimisers and random streams (GanStep.state_dict)."""
        return {"config": self.choices.to_dict(), "step": self.step, "epoch": self.epoch,
                "position": self.position, "changes": [c.as_dict() for c in self.changes],
                "class_names": self.class_names, "fixed_noise": self.fixed_noise.cpu(), **self.gan_step.state_dict()}

    @property
    def class_names(self) -> list[str]:
        """A conditional run's class names in label order, as its data named them (a folder's sub-folders, which
        may be renamed later): kept in checkpoints and generator.safetensors for generating and sharing."""
        return list(self.data.class_names) if self.config.conditional and self.data is not None else []

    @property
    def row_labels(self) -> list[str] | None:
        """A conditional run's fixed-noise and real grids have a row per class: their names, written on the left."""
        return class_rows(self.class_names) if self.class_names else None

    def _load_state(self, state: dict[str, Any]) -> None:
        try:
            self.gan_step.load_state_dict(state)
            self.fixed_noise = state["fixed_noise"].to(self.device)
            self.step = self._checkpoint_step = int(state["step"])
            self.epoch, self.position = int(state["epoch"]), int(state["position"])
            if self.parent is not None:
                self._checkpoint_step = None  # the fork's own folder has no checkpoint yet
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"{self.resume_from} does not match this run's models ({e}); "
                                  f"resume from a checkpoint of the same run") from e

    def _checkpoint(self) -> None:
        # Never overwrite good weights with broken ones: a NaN/inf weight stops the run instead.
        if not self.gan_step.weights_finite():
            raise Diverged(f"a weight of G or D became NaN or infinite by step {self.step}")
        if not self.write_files:
            return
        folder = RunFolder(self.run_dir)
        path = save_checkpoint(folder.target(CHECKPOINTS), self.state_dict(), keep=self.config.keep_checkpoints)
        self._checkpoint_step = self.step
        export_generator(folder.file(GENERATOR_FILE), self.sampling_generator, self.config.to_dict(), self.step,
                         self.class_names)
        self.events.emit(CheckpointSaved(self.step, str(path)))

    def _set_status(self, status: str, message: str = "", step: int | None = None) -> None:
        self.status = status
        self.events.emit(StatusChanged(status, self.step if step is None else step, message))

