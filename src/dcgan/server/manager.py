"""The run manager: owns the one training worker (a thread, or a subprocess for several processes) and the live
state every client sees (dcgan.server.livestate projects it from the events).

Threads: the trainer runs in a worker thread and emits events there (a multi-process run's follower thread
emits the same events, read back from its run folder). The manager's subscriber does no work on
that thread beyond handing each event to the event loop (`call_soon_threadsafe`, which never blocks); the live
state, the history and the WebSocket hub are then only touched on the loop thread, so a client's hello is always
consistent with the messages that follow it, and no request or client can hold training up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import threading
from pathlib import Path
from typing import Any, Callable

from fastapi import HTTPException

from dcgan import budget
from dcgan.config import DATASETS, TrainConfig
from dcgan.control import LIVE_FIELDS
from dcgan.data import ImageData
from dcgan.errors import ConfigError
from dcgan.events import ACTIVE, ENDED, CheckpointSaved, Event, RunStarted, SampleGrid, StatusChanged, StepMetrics
from dcgan.rundir import CHECKPOINTS, RunFolder, check_links, inside, refuse_if_busy, unique_run_dir
from dcgan.runfiles import RunWriters
from dcgan.server import schemas
from dcgan.server.dataroots import DataRoots
from dcgan.server.hub import Hub
from dcgan.server.livestate import Earlier, LiveHistory, LiveState, Update
from dcgan.server.process import ProcessRun, train_command
from dcgan.server.runs import RunStore, last_checkpoint, number
from dcgan.server.settings import Settings
from dcgan.training import Trainer

log = logging.getLogger("dcgan.server")
MAX_STEPS = TrainConfig.__dataclass_fields__["steps"].metadata["le"]  # a run's length, given in steps or epochs
MAX_QUEUED_STEPS = 16  # single steps asked for and not taken yet (a click each on the page)
WIND_DOWN_S = 15.0  # how long a start waits for an ended run's worker to close


class RunManager:
    """One training at a time: start, stop, resume, fork, steer and checkpoint it; keep its live state for clients.

    The training is either a Trainer in a worker thread of this process (it can be paused, stepped and changed
    live) or, for several processes, a `dcgan train --nproc N` subprocess followed through its run folder.
    """

    def __init__(self, settings: Settings, store: RunStore):
        self.settings = settings
        self.store = store
        self.data_roots = DataRoots(settings.data_roots, settings.allow_downloads)
        self.hub = Hub(self.hello, settings.client_queue, settings.send_timeout_s, settings.heartbeat_s)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.trainer: Trainer | None = None
        self.process: ProcessRun | None = None
        self.thread: threading.Thread | None = None
        self.busy = False  # a worker owns the training, from the start request until the worker has ended
        self.idle = asyncio.Event()
        self.idle.set()
        self.live = LiveState(settings.history_points, settings.log_lines, self.scrub)
        # Requests waiting for an event (a checkpoint, a status, a single step's metrics): (test, future).
        self._waiters: list[tuple[Callable[[Event], bool], asyncio.Future]] = []
        self._data: tuple[tuple, ImageData] | None = None  # the last named dataset, reused by the next run
        self._steps_queued = 0  # single steps asked for and not taken yet
        self._single_steps = 0

    # --- Lifecycle (called by the app's lifespan) ----------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    async def shutdown(self, timeout_s: float = 120) -> None:
        """Server exit: a training stops as a stop request would (after its step, with a checkpoint)."""
        if self.busy:
            self._request_stop()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.idle.wait(), timeout_s)

    # --- Start, resume, fork, stop (event loop thread) -------------------------------------------------------

    async def start(self, config: TrainConfig, name: str | None, nproc: int | None,
                    paused: bool = False) -> schemas.Status:
        option = "nproc" if nproc else "world_size"
        nproc = nproc or config.world_size
        self.admit(config.resolved(), nproc, option)
        await self._claim()
        try:
            run_dir = self.store.new_run(name) if name else None
            origin = f"dcgan serve: POST /api/training/start {config.to_dict()}"
            if nproc > 1:
                refuse_pause(paused, nproc)
                return await self._launch_process(config, run_dir, nproc)
            trainer = Trainer(config, run_dir=run_dir, runs_dir=self.store.root, origin=origin, writers=RunWriters())
        except BaseException:
            self._release()
            raise
        return await self._launch(trainer, paused)

    async def resume(self, request: schemas.ResumeRequest) -> schemas.Status:
        await self._claim()
        try:
            run_dir = self.store.run(request.run)
            refuse_if_busy(run_dir)  # a live trainer (another server, a terminal) writes it: 409
            check_links(run_dir)
            # A run stopped before its first checkpoint trains again from step 0 (Trainer.resume): nothing to load.
            again = request.checkpoint is None and not RunFolder(run_dir).checkpoint_files()
            checkpoint = None if again else self._training_checkpoint(request.run, request.checkpoint)
            loading = checkpoint.stat().st_size if checkpoint is not None else 0
            if request.nproc and request.nproc > 1:
                refuse_pause(request.paused, request.nproc)
                config = self.store.train_config(request.run)  # as Trainer.resume will build it in each process
                length = {"steps": request.steps, "epochs": request.epochs}
                config = dataclasses.replace(config, **(length if any(length.values()) else {}),
                                             **({"device": request.device} if request.device else {}))
                self.admit(config, request.nproc, "nproc", loading=loading)
                return await self._launch_process(None, run_dir, request.nproc, resume=request.model_dump())
            trainer = Trainer.resume(run_dir, steps=request.steps, epochs=request.epochs, device=request.device,
                                     checkpoint=checkpoint, writers=RunWriters(),
                                     origin=f"dcgan serve: POST /api/training/resume {request.model_dump()}")
            self.admit(trainer.config, 1, loading=loading)
        except BaseException:
            self._release()
            raise
        return await self._launch(trainer, request.paused)

    async def fork(self, request: schemas.ForkRequest) -> schemas.Status:
        await self._claim()
        try:
            parent = self.store.run(request.run)
            checkpoint = self._training_checkpoint(request.run, request.checkpoint)
            run_dir = self.store.new_run(request.name) if request.name else None
            trainer = Trainer.fork(parent, request.changes, checkpoint=checkpoint, run_dir=run_dir,
                                   runs_dir=self.store.root, writers=RunWriters(),
                                   origin=f"dcgan serve: POST /api/training/fork {request.model_dump()}")
            self.admit(trainer.config, 1, loading=checkpoint.stat().st_size)
        except BaseException:
            self._release()
            raise
        return await self._launch(trainer, request.paused)

    # --- What the server takes on (issue 18) -------------------------------------------------------------------

    def admit(self, config: TrainConfig, processes: int, option: str = "nproc", loading: int = 0) -> None:
        """Refuse work before anything is built: data outside the data roots (or a download the server does not
        allow), more processes than the machine has, more memory than the budget, more files than the disk has
        room for. Each is a 422 that names the option at fault."""
        # The steps an epoch takes follow the processes it is launched on, not the world_size a config or a saved
        # run carries (a 2-process run resumed on one process trains twice the steps an epoch).
        config = dataclasses.replace(config, world_size=processes)
        self.data_roots.check(config)
        limit = self.settings.max_processes or budget.machine_processes(config.device)
        budget.check_processes(processes, limit, option, force="dcgan serve --max-processes")
        images = budget.dataset_images(config)  # a folder's are counted on disk: once for both estimates
        budget.check(budget.training_cost(config, processes, loading, images), self.settings.memory_budget)
        steps = budget.planned_steps(config, images)
        check_length(config, steps)
        self.check_disk(config, steps)

    def check_disk(self, config: TrainConfig, steps: int, single_steps: int = 0) -> None:
        """A 422 naming the option at fault when `steps` steps of `config` (and `single_steps` taken by hand)
        would write more than one run may: the server's disk budget, and never the reserve it leaves free on the
        runs folder's disk."""
        budget.check_disk(budget.disk_cost(config, steps, single_steps), *self._disk_limit())

    def _disk_limit(self) -> tuple[int, str]:
        reserve, most = self.settings.disk_reserve, self.settings.disk_budget
        free = max(0, budget.free_disk(self.store.root) - reserve)
        return ((free, f"the {budget.gib(free)} free on the runs folder's disk beyond the {budget.gib(reserve)} "
                       f"this server leaves free")
                if most is None or free < most else (most, f"the server's disk budget of {budget.gib(most)} per run"))

    def _training_checkpoint(self, run: str, checkpoint: str | None) -> Path:
        """A run's checkpoint file to resume or fork from (its last by default), resolved inside the run folder
        and no larger than the memory budget (it is read into memory before the models are measured)."""
        run_dir = self.store.run(run)
        if checkpoint is None:
            path = last_checkpoint(run_dir)
        else:
            path = inside(run_dir, CHECKPOINTS, checkpoint)
            if not path.is_file():
                raise HTTPException(404, f"run {run!r} has no checkpoint {checkpoint!r}; GET /api/runs/{run} "
                                         f"lists them")
        if path.suffix != ".pt":
            raise HTTPException(409, f"run {run!r} has only generator weights ({path.name}); resuming and forking "
                                     f"need a training checkpoint (checkpoints/step-*.pt)")
        if path.stat().st_size > self.settings.memory_budget:
            raise HTTPException(422, f"checkpoint {path.name} is larger than this server's memory budget "
                                     f"({budget.gib(self.settings.memory_budget)}); start it with a larger "
                                     f"--memory-budget")
        return path

    async def stop(self, wait_s: float) -> schemas.Status:
        """Ask the training to stop after its current step (it writes a checkpoint); wait up to wait_s for it."""
        if not self.busy:
            raise HTTPException(409, f"no training is running (status: {self.status.state}); start or resume one")
        self._request_stop()
        self.status.stop_requested = True
        self._publish_status()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.idle.wait(), wait_s)
        return self.current()

    def _request_stop(self) -> None:
        if self.trainer is not None:
            self.trainer.request_stop()
        if self.process is not None:
            self.process.stop()

    # --- Steering (issue 9): in-process runs only ------------------------------------------------------------

    async def checkpoint(self, wait_s: float) -> schemas.CheckpointResult:
        """Write a checkpoint after the current step and answer with it."""
        trainer = self._steerable("saving a checkpoint on demand")
        waiter = self._wait_for(lambda e: isinstance(e, CheckpointSaved))
        trainer.request_checkpoint()
        event = await self._await(waiter, wait_s, "checkpoint")
        return schemas.CheckpointResult(run=self.status.run or "", step=event.step, checkpoint=Path(event.path).name)

    async def pause(self, wait_s: float) -> schemas.Status:
        trainer = self._steerable("pausing")
        if self.status.state != "paused":
            waiter = self._wait_for(lambda e: isinstance(e, StatusChanged) and e.status != "running")
            trainer.pause()
            await self._await(waiter, wait_s, "pause")
        return self.current()

    async def unpause(self, wait_s: float) -> schemas.Status:
        trainer = self._steerable("unpausing")
        if self.status.state == "paused":
            waiter = self._wait_for(lambda e: isinstance(e, StatusChanged) and e.status != "paused")
            trainer.unpause()
            await self._await(waiter, wait_s, "unpause")
        return self.current()

    async def single_step(self, part: str, wait_s: float) -> schemas.StepResult:
        """One D, G or full step while paused; answers with its metrics once its sample grid is written."""
        trainer = self._steerable("single steps")
        if self.status.state != "paused":
            raise HTTPException(409, f"single steps are taken while paused, and the training is "
                                     f"{self.status.state}: POST /api/training/pause first")
        if self.status.total_steps is not None and self.status.step >= self.status.total_steps:
            raise HTTPException(409, f"the run is at its last step ({self.status.step}); resume it with a larger "
                                     f"total to step further")
        if self._steps_queued >= MAX_QUEUED_STEPS:
            # Each is taken in turn, with its grid and metrics row (more than the run's sample_every was admitted
            # with): a client that does not wait for its steps must not queue them without bound.
            raise HTTPException(429, f"{self._steps_queued} single steps are queued already; wait for them (each "
                                     f"answers when it is taken)", headers={"Retry-After": "1"})
        # Each writes a grid (and a metrics row) beside those the run was admitted with: they count against its
        # disk too, or a client stepping by hand could fill it a grid at a time.
        cost = budget.disk_cost(trainer.config, max(0, trainer.total_steps - trainer.step), self._single_steps + 1)
        limit, limit_text = self._disk_limit()
        if sum(cost.values()) > limit:
            raise HTTPException(409, f"each single step writes a sample grid: one more ({self._single_steps + 1} this "
                                     f"session) would bring what the run writes to {budget.gib(sum(cost.values()))}, "
                                     f"more than {limit_text}; continue the training instead (its grids come every "
                                     f"sample_every steps)")
        target = self.status.step + 1
        metrics = self._wait_for(lambda e: isinstance(e, StepMetrics) and e.manual is not None and e.step >= target)
        sample = self._wait_for(lambda e: isinstance(e, SampleGrid) and e.step >= target)
        trainer.single_step(part)
        self._steps_queued += 1
        self._single_steps += 1
        try:
            event = await self._await(metrics, wait_s, "single step")
            with contextlib.suppress(HTTPException):  # the grid follows the metrics at once; answer without it if not
                await self._await(sample, 10, "sample")
        finally:
            self._forget(sample)  # also when the step's own wait ended first (504): nobody will take the grid
        run = self.status.run or ""
        has_grid = event.step == self.live.samples.last
        return schemas.StepResult(
            status=self.current(), sample_url=f"/api/runs/{run}/samples/{event.step}.png" if has_grid else None,
            metrics=schemas.StepMessage(run=run, step=event.step, epoch=event.epoch, manual=event.manual,
                                        values={k: number(v) for k, v in event.metrics.items()}))

    def hyperparameters(self) -> schemas.Hyperparameters:
        trainer = self.trainer
        if trainer is None:
            return schemas.Hyperparameters(run=None, fields=list(LIVE_FIELDS), values={}, changes=[])
        return schemas.Hyperparameters(
            run=self.status.run, fields=list(LIVE_FIELDS),
            values={name: getattr(trainer.config, name) for name in LIVE_FIELDS},
            changes=[schemas.HparamMark(**c.as_dict()) for c in list(trainer.changes)])

    def set_hyperparameters(self, changes: dict[str, Any]) -> schemas.Hyperparameters:
        """Validated here (a bad name or value is a ConfigError: 422); applied by the trainer at the next step
        boundary, which announces each change as an event."""
        trainer = self._steerable("changing hyperparameters live")
        if "sample_every" in changes and set(changes) <= set(LIVE_FIELDS):  # more grids than it was admitted with
            changed = dataclasses.replace(trainer.config, **changes)
            changed.validate()
            total = getattr(trainer, "total_steps", None)  # None until the trainer is set up
            left = (budget.planned_steps(changed, budget.dataset_images(changed)) if total is None else
                    max(0, total - trainer.step))
            self.check_disk(changed, left, self._single_steps)
        trainer.set_hyperparameters(**changes)
        current = self.hyperparameters()
        current.values.update(changes)  # what they will be from the next step
        return current

    def _steerable(self, what: str) -> Trainer:
        if not self.busy:
            raise HTTPException(409, f"no training is running (status: {self.status.state}); {what} needs one")
        if self.process is not None or self.trainer is None:
            raise HTTPException(409, f"{what} is for single-process runs: this one trains on {self.status.nproc} "
                                     f"processes, which would all have to wait on it; stop it or fork it")
        if self.status.stop_requested:
            raise HTTPException(409, f"the training is stopping; {what} is not possible any more")
        return self.trainer

    def _wait_for(self, test: Callable[[Event], bool]) -> asyncio.Future:
        """A future resolved with the first event that passes `test` (registered before the command is sent, so
        a fast trainer cannot answer before anyone listens)."""
        future = self.loop.create_future()
        self._waiters.append((test, future))
        return future

    async def _await(self, future: asyncio.Future, wait_s: float, what: str) -> Event:
        try:
            return await asyncio.wait_for(future, wait_s)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"no {what} within {wait_s:g} s; it happens at the next step boundary: "
                                     f"watch the WebSocket for it") from None
        finally:
            self._forget(future)

    def _forget(self, future: asyncio.Future) -> None:
        self._waiters = [(t, f) for t, f in self._waiters if f is not future]

    # --- State for clients -----------------------------------------------------------------------------------

    @property
    def status(self) -> schemas.Status:
        return self.live.status

    @property
    def history(self) -> LiveHistory:
        return self.live.history

    def current(self) -> schemas.Status:
        return self.live.current(clients=len(self.hub.clients))

    def hello(self) -> schemas.Hello:
        return schemas.Hello(status=self.current(), history=self.live.history.metrics(),
                             sample_steps=self.live.samples.answer(), log=list(self.live.log),
                             heartbeat_s=self.settings.heartbeat_s)

    # --- The worker ----------------------------------------------------------------------------------------

    async def _claim(self) -> None:
        if self.busy and self.status.state in ENDED:
            # The run has ended but its worker is still closing (a multi-process run's launcher exits a moment
            # after rank 0 writes "finished"): wait for it rather than answer 409 to a user who saw it end.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.idle.wait(), WIND_DOWN_S)
        if self.busy:
            raise HTTPException(409, f"a training is already {self.status.state} (run {self.status.run}); one "
                                     f"runs at a time per server: stop it first (POST /api/training/stop)")
        self.busy = True
        self.idle.clear()

    def _release(self) -> None:
        self.busy = False
        self.idle.set()

    async def _launch(self, trainer: Trainer, paused: bool = False) -> schemas.Status:
        """Set the trainer up in a worker thread (data, models, run folder: slow) and answer once it is about
        to train; a setup error (missing data, a device that is not there) is this request's answer."""
        trainer.data = self._cached_data(trainer.config)
        trainer.subscribe(self._on_event)
        if paused:
            trainer.pause()  # queued now, carried out at the first step boundary, before any step
        self.trainer, self.process = trainer, None  # from now a stop request reaches it, even during setup
        ready = self.loop.create_future()
        self.thread = threading.Thread(target=self._work, args=(trainer, ready), name="dcgan-training", daemon=True)
        self.thread.start()
        await ready
        return self.current()

    def _work(self, trainer: Trainer, ready: asyncio.Future) -> None:
        """The worker thread: set up, then train until finished, stopped or failed."""
        try:
            trainer.setup()
        except Exception as e:  # noqa: BLE001 - handed to the request, which answers with it
            self._post(self._setup_failed, ready, e)
            return
        self._post(self._began, trainer, ready)
        try:
            trainer.run()
        except Exception:  # noqa: BLE001 - the trainer reported it (status failed and a log line)
            log.exception("training failed")
        finally:
            self._post(self._ended)

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is exiting
            self.loop.call_soon_threadsafe(fn, *args)

    def _setup_failed(self, ready: asyncio.Future, error: BaseException) -> None:
        self.trainer = None
        self._release()
        if not ready.done():
            ready.set_exception(error)

    def _began(self, trainer: Trainer, ready: asyncio.Future) -> None:
        """Set up: the new run's state replaces the last one's, and every client starts over from it."""
        cfg = trainer.config
        if cfg.dataset in DATASETS:  # a folder's images may change on disk: read it again next time
            self._data = (data_key(cfg), trainer.data)
        self._reset(trainer.run_dir.name, nproc=1, device=str(trainer.device), step=trainer.step,
                    total_steps=trainer.total_steps, steps_per_epoch=trainer.steps_per_epoch,
                    images_per_step=cfg.images_per_step())
        if not ready.done():
            ready.set_result(None)

    def _reset(self, run: str, nproc: int, images_per_step: int, **fields: Any) -> None:
        self.live.reset(run, nproc, images_per_step, **fields)
        self._steps_queued = 0
        self._single_steps = 0  # taken this session, each with its grid (counted against the disk)
        self.hub.resync_all()

    def _ended(self) -> None:
        self.status.stop_requested = False
        for _, future in self._waiters:  # nothing more will come for them
            if not future.done():
                future.set_exception(HTTPException(409, f"the training ended ({self.status.state}) first"))
        self._release()
        self._publish_status()

    def use_data(self, config: TrainConfig, data: ImageData) -> None:
        """Hand over a dataset already in memory (a notebook's, a test's) for runs with this config's data."""
        self._data = (data_key(config.resolved()), data)

    def _cached_data(self, config: TrainConfig) -> ImageData | None:
        if self._data is not None and self._data[0] == data_key(config):
            return self._data[1]
        return None

    # --- Several processes: a subprocess followed through its run folder --------------------------------------

    async def _launch_process(self, config: TrainConfig | None, run_dir: Path | None, nproc: int,
                              resume: dict[str, Any] | None = None) -> schemas.Status:
        """Start `dcgan train --nproc N` and answer at once with status starting; its setup (N processes
        importing torch and loading data) is followed on the WebSocket, and a failure shows as status failed."""
        if resume is None:
            resolved = config.resolved()  # a bad option answers 422 here, not from a subprocess later
            run_dir = run_dir or unique_run_dir(self.store.root, resolved)
            values = {k: v for k, v in config.to_dict().items() if v != TrainConfig.__dataclass_fields__[k].default}
            values["seed"] = resolved.seed  # the seed is chosen here so the run's record and the server agree
            argv = train_command(nproc, run_dir, config=values)
            images_per_step = dataclasses.replace(resolved, world_size=nproc).images_per_step()
        else:
            argv = train_command(nproc, run_dir, resume=resume)
            cfg = self.store.train_config(run_dir.name)  # its live changes too (d_steps sets images a step)
            images_per_step = dataclasses.replace(cfg, world_size=nproc).images_per_step()
        process = ProcessRun(argv, run_dir, nproc, on_event=self._on_event, read_earlier=self.live.read_earlier,
                             on_info=lambda info: self._post(self._process_info, info),
                             on_exit=lambda code, tail: self._post(self._process_exit, code, tail))
        self.trainer, self.process = None, process
        self._reset(run_dir.name, nproc=nproc, images_per_step=images_per_step,
                    message=f"launching {nproc} training processes")
        process.start()
        self._publish_status()
        return self.current()

    def _process_info(self, info: dict[str, Any]) -> None:
        if "earlier" in info:
            self.live.restore(info["earlier"])
            self.hub.resync_all()
            return
        for key in ("total_steps", "steps_per_epoch", "device"):
            if info.get(key) is not None:
                setattr(self.status, key, info[key])

    def scrub(self, text: str) -> str:
        """Text for clients, without file paths outside the data roots, and runs named as the API names them."""
        text = self.data_roots.scrub(text, allowed=[self.store.root])
        return re.sub(re.escape(str(self.store.root)) + r"/(?=[\w.-])", "", text)

    def _process_exit(self, code: int, tail: str) -> None:
        if code != 0 and self.status.state in ACTIVE:
            tail = self.scrub(tail)
            last = tail.strip().splitlines()[-1] if tail.strip() else ""
            self.status.state, self.status.message = "failed", f"the training processes exited with code {code}: {last}"
            self.hub.publish(self.live.add_log("error", f"{self.status.message}\n{tail}"))
        self._ended()

    # --- Events: the training thread hands them over, the loop thread applies them ---------------------------

    def _on_event(self, event: Event) -> None:
        """Training thread: hand the event to the loop. A resumed run's earlier history is read here, off the
        loop (the run files subscriber, which comes first, has already trimmed it to the resumed step)."""
        earlier = None
        if isinstance(event, RunStarted) and event.resumed:
            earlier = self.live.read_earlier(event.run_dir, event.start_step)
        self._post(self._apply, event, earlier)

    def _apply(self, event: Event, earlier: Earlier | None) -> None:
        self._update(event, earlier)
        if isinstance(event, StepMetrics) and event.manual is not None:
            self._steps_queued = max(0, self._steps_queued - 1)
        elif isinstance(event, StatusChanged) and event.status != "paused":
            self._steps_queued = 0  # the trainer drops the single steps it finds once it is not paused
        for test, future in list(self._waiters):
            if not future.done() and test(event):
                future.set_result(event)
        # A future its request no longer awaits would stay, tested against every later event: only waiting ones stay.
        self._waiters = [(t, f) for t, f in self._waiters if not f.done()]

    def _update(self, event: Event, earlier: Earlier | None) -> None:
        self._publish(self.live.apply(event, earlier))

    def _publish(self, update: Update) -> None:
        if update.resync:
            self.hub.resync_all()
        for message in update.messages:
            self.hub.publish(message)
        if update.status:
            self._publish_status()

    def _publish_status(self) -> None:
        self.hub.publish(schemas.StatusMessage(status=self.current()), key="status")


def check_length(config: TrainConfig, steps: int | None) -> None:
    """A run's length given in epochs is held to the bound of one given in steps: a 422 naming epochs above it."""
    if steps is not None and config.steps is None and steps > MAX_STEPS:
        per_epoch = steps // (config.epochs or 1)
        raise ConfigError(f"{config.epochs} epochs of {per_epoch:,} steps are {steps:,} steps, more than the "
                          f"{MAX_STEPS:,} a run may train; lower epochs to {max(MAX_STEPS // per_epoch, 1):,} or fewer "
                          f"(or raise batch_size)", field="epochs")


def refuse_pause(paused: bool, nproc: int) -> None:
    if paused:
        raise HTTPException(409, f"a run on {nproc} processes cannot start paused: pausing is for single-process "
                                 f"runs, whose one process can wait")


def data_key(config: TrainConfig) -> tuple:
    return config.dataset, config.data_dir, config.image_size, config.channels
