"""Seed 000's API (the "DCGAN Interactive Demo": `/status`, `/start_training`, `/generate`, `/ws`, ...) as a thin
layer over the run manager and the runs folder, so that a client written for that demo works against `dcgan serve`
on the same port. The routes are in routes/seed000.py; docs/dashboard.md maps each endpoint to our own API.

The shapes are seed 000's: `is_training` and `current_epoch` in the status; `g_losses`, `d_losses`, `real_scores`
and `fake_scores` lists; `success` and `message` in answers; `image` as a base64 PNG grid; WebSocket messages
`connected`, `batch_update`, `epoch_complete`, `training_complete`, `error` and `heartbeat`. What our runs add
(steps, progress, run names, checkpoint paths inside the runs folder, one data URL per image, log lines and
samples on the WebSocket) comes beside them. Errors are ours: one line with a 4xx status, not `success: false`.

"The model" of seed 000 (what save, load and generate act on) is here: the model /load_model selected, until the
server starts another training; else the server's current or last run (its newest checkpoint); else the run in
the runs folder whose checkpoint was written last.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import math
import random
from pathlib import Path
from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dcgan import __version__
from dcgan.config import DATASETS, DEVICES, TrainConfig
from dcgan.errors import ConfigError
from dcgan.events import ACTIVE, ENDED
from dcgan.server import schemas
from dcgan.server.manager import RunManager
from dcgan.server.runs import RunStore
from dcgan.images import image_array, png_bytes
from dcgan.vocabulary import D_FAKE, D_REAL, LOSS_D, LOSS_G

MAX_IMAGES = 64  # images one /generate answers with (seed 000 caps it at 64 too)
# Seed 000's names for our metrics (dcgan.vocabulary): its curves (lists), an epoch's means and a batch's values.
SERIES = {"g_losses": LOSS_G, "d_losses": LOSS_D, "real_scores": D_REAL, "fake_scores": D_FAKE}
EPOCH_MEANS = {"g_loss": LOSS_G, "d_loss": LOSS_D, "real_score": D_REAL, "fake_score": D_FAKE}
BATCH_VALUES = {"loss_d": LOSS_D, "loss_g": LOSS_G, "real_score": D_REAL, "fake_score": D_FAKE}


def bounds(option: str) -> dict[str, Any]:
    """A TrainConfig option's bounds (ge/gt/le/lt), so the seed fields are checked against the same numbers."""
    meta = TrainConfig.__dataclass_fields__[option].metadata
    return {k: meta[k] for k in ("ge", "gt", "le", "lt") if k in meta}


# --- Requests and answers ------------------------------------------------------------------------------------------

class SeedStatus(BaseModel):
    is_training: bool = Field(description="a training is starting, running or paused")
    current_epoch: int = Field(description="epochs completed (seed 000's epoch in progress, counted from 0)")
    total_epochs: int | None = Field(None, description="the run's length in epochs")
    device: str = Field(description="the run's device, or the one a new run would use (auto: CUDA, MPS, CPU)")
    step: int = 0
    total_steps: int | None = None
    progress: float | None = Field(None, description="step / total_steps, from 0 to 1")
    state: schemas.TrainingState
    run: str | None = Field(None, description="the current or last run's folder name")
    message: str = ""


class SeedMetrics(BaseModel):
    """The current or last run's curves (after /load_model: the loaded run's). A point is a logged step;
    long runs are averaged down to a bounded number of points."""

    run: str | None
    epoch: int = Field(description="epochs completed")
    steps: list[int] = Field(description="the step of each point")
    g_losses: list[float | None] = Field(description="loss_G; null where it was not finite")
    d_losses: list[float | None] = Field(description="loss_D")
    real_scores: list[float | None] = Field(description="D(x): D's mean probability that real images are real")
    fake_scores: list[float | None] = Field(description="D(G(z)) in D's update")


class StartTraining(BaseModel):
    """Seed 000's form, all optional: omitted fields take our defaults. Any other TrainConfig option may be
    given beside them, flat (e.g. `"steps": 500`; GET /api/config/schema lists them)."""

    model_config = ConfigDict(extra="allow")
    dataset: str | None = Field(None, max_length=4096, description=f"{', '.join(DATASETS)} (fashion_mnist "
                                "is accepted for fashion-mnist) or folder:PATH")
    epochs: int | None = Field(None, **bounds("epochs"))
    batch_size: int | None = Field(None, **bounds("batch_size"))
    learning_rate: float | None = Field(None, **bounds("lr"), description="Adam's learning rate for G and D")
    device: Literal[DEVICES] | None = Field(None, description="auto picks CUDA, then Apple MPS, then CPU")

    @model_validator(mode="after")
    def extras_are_text(self) -> "StartTraining":
        schemas.writable_text(self.model_extra or {})
        return self

    def options(self) -> dict[str, Any]:
        """The TrainConfig options this request sets, and only those (the rest keep our defaults)."""
        options = dict(self.model_extra or {})
        given = self.model_dump(exclude_unset=True, exclude=set(options))
        if "learning_rate" in given and "lr" in options:
            raise ConfigError("give learning_rate or lr, not both (they are the same option)", field="learning_rate")
        if "learning_rate" in given:
            given["lr"] = given.pop("learning_rate")
        if given.get("dataset") is not None and given["dataset"].replace("_", "-") in DATASETS:
            given["dataset"] = given["dataset"].replace("_", "-")  # seed 000 names it fashion_mnist
        return {**options, **{k: v for k, v in given.items() if v is not None}}


class SeedConfig(BaseModel):
    dataset: str
    epochs: int | None
    steps: int | None
    batch_size: int
    learning_rate: float
    device: str


class Started(BaseModel):
    success: bool = True
    message: str
    run: str = Field(description="the new run's folder name in the runs folder")
    config: SeedConfig = Field(description="the run's values of seed 000's fields, defaults filled in")
    status: SeedStatus


class Stopped(BaseModel):
    success: bool = True
    message: str
    status: SeedStatus


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_images: int = Field(16, ge=1, le=MAX_IMAGES)
    seed: int | None = Field(None, ge=0, le=schemas.MAX_SEED, description="the same seed gives the same images; "
                             "default: a random one (returned)")


class Generated(BaseModel):
    success: bool = True
    num_images: int
    image: str = Field(description="the images as one grid: a base64 PNG (seed 000's page shows it as "
                       "data:image/png;base64,<image>)")
    images: list[str] = Field(description="each image as a PNG data URL, ready for an <img> src")
    seed: int
    run: str
    checkpoint: str
    path: str = Field(description="the checkpoint, as a path inside the runs folder")
    step: int


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(None, min_length=1, max_length=1024, description="a run or a checkpoint inside the "
                             "runs folder: <run>, <run>/checkpoints/step-NNNNNNN.pt or <run>/generator.safetensors "
                             "(what /save_model answered); default: the checkpoint written last")


class SavedModel(BaseModel):
    success: bool = True
    message: str
    run: str
    checkpoint: str = Field(description="the file name: step-NNNNNNN.pt or generator.safetensors")
    path: str = Field(description="<run>/checkpoints/<checkpoint>: a path inside the runs folder, which "
                      "/load_model takes")
    step: int
    written: bool = Field(False, description="this request wrote the file (false: it already held the model, "
                          "as every run writes a checkpoint when it stops)")


class ApiInfo(BaseModel):
    message: str
    version: str
    endpoints: dict[str, str] = Field(description="path -> 'METHOD - what it does', as seed 000 lists them")
    docs: str = Field(description="the full API reference (OpenAPI)")
    native_api: str = Field(description="our own API, of which these endpoints are a thin layer")


ENDPOINTS = {
    "/status": "GET - training status, device, epoch, step and progress",
    "/metrics": "GET - the current or last run's losses and D scores as lists",
    "/start_training": "POST - start training: {dataset, epochs, batch_size, learning_rate, device}, all optional",
    "/stop_training": "POST - stop training after the current step (it writes a checkpoint)",
    "/generate": f"POST - {{num_images: 1..{MAX_IMAGES}, seed?}} -> the images as PNG",
    "/save_model": "POST - save the current model's checkpoint and say where",
    "/load_model": "POST - {path?}: select a saved run or checkpoint for /generate",
    "/ws": "WebSocket - live progress, losses, D scores, samples and logs, with a heartbeat",
}


def api_info() -> ApiInfo:
    return ApiInfo(message="dcgan dashboard API (seed 000 compatible)", version=__version__, endpoints=ENDPOINTS,
                   docs="/docs", native_api="/api")


def wants_json(accept: str) -> bool:
    """A client that asks for JSON and not for a page (browsers name text/html in Accept)."""
    accept = accept.lower()
    return "application/json" in accept and "text/html" not in accept


# --- The layer ----------------------------------------------------------------------------------------------------

class Seed000:
    """Seed 000's operations on our run manager and runs folder; its one piece of state is the loaded model."""

    def __init__(self, manager: RunManager, store: RunStore):
        self.manager = manager
        self.store = store
        # (run, checkpoint, the server's run when it was loaded): loading lasts until another training starts.
        self.loaded: tuple[str, str, str | None] | None = None

    def status(self) -> SeedStatus:
        return seed_status(self.manager.current())

    async def metrics(self) -> SeedMetrics:
        loaded = self._loaded()
        if loaded is not None and loaded[0] != self.manager.status.run:
            history = await asyncio.to_thread(self.store.metrics, loaded[0], self.manager.settings.history_points)
            return seed_metrics(loaded[0], history)
        return seed_metrics(self.manager.status.run, self.manager.history.metrics())

    async def start(self, request: StartTraining) -> Started:
        config = TrainConfig.from_dict(request.options())
        status = await self.manager.start(config, None, None)
        try:
            values = self.store.resolved(status.run)  # what it trains: choices, defaults filled in
        except HTTPException:  # several processes: their config.json is written by them, a moment later
            values = config.resolved().to_dict()
        device = status.device or values["device"]
        used = SeedConfig(dataset=values["dataset"], epochs=values["epochs"], steps=values["steps"],
                          batch_size=values["batch_size"], learning_rate=values["lr"], device=device)
        return Started(message=f"training started on {device}: run {status.run}", run=status.run, config=used,
                       status=seed_status(status))

    async def stop(self, wait_s: float) -> Stopped:
        status = await self.manager.stop(wait_s)
        message = status.message if status.state in ENDED else (
            f"stopping: the training stops after its current step and writes a checkpoint (at step {status.step})")
        return Stopped(message=message, status=seed_status(status))

    async def save(self, wait_s: float) -> SavedModel:
        """While training: a checkpoint now (the trainer writes it after its current step). After: the
        checkpoint that holds the model (every run writes one when it stops)."""
        if self.manager.busy:
            try:
                saved = await self.manager.checkpoint(wait_s)
            except HTTPException as e:
                if self.manager.busy or e.status_code != 409:
                    raise
                saved = None  # the training ended first, with a checkpoint of its own: answer with that
            if saved is not None:
                path = self.store.checkpoint_file(saved.run, saved.checkpoint)
                return SavedModel(message=f"saved run {saved.run} at step {saved.step}; training goes on",
                                  run=saved.run, checkpoint=saved.checkpoint, step=saved.step, written=True,
                                  path=self.store.relative(saved.run, path))
        run, checkpoint = self.model()
        return await asyncio.to_thread(self._describe, run, checkpoint,
                                       "{path} holds the model (step {step}): runs write a checkpoint when they "
                                       "stop, so it was saved already")

    def load(self, path: str | None) -> SavedModel:
        """Select a saved model for /generate (runs in a worker thread: it loads the file, so a damaged one is
        refused before it is selected)."""
        if path is not None:
            run, checkpoint = self.store.locate(path)
        else:
            run, checkpoint = self.store.newest_saved(), None
            if run is None:
                raise HTTPException(404, f"no saved model in the runs folder {self.store.root}: train one "
                                         f"(POST /start_training) or name one with {{\"path\": \"<run>\"}}")
        saved = self._describe(run, checkpoint, "loaded {path} (step {step}) for /generate")
        self.loaded = (saved.run, saved.checkpoint, self.manager.status.run)
        return saved

    def generate(self, request: GenerateRequest) -> Generated:
        """Images from the model (runs in a worker thread). While training, the run's newest checkpoint draws
        them: the weights in training are the trainer's alone; /save_model writes the current ones."""
        run, checkpoint = self.model()
        try:
            self.store.contained(run, self.store.checkpoint_file(run, checkpoint))
        except HTTPException as e:
            if e.status_code == 409 and self.manager.busy and run == self.manager.status.run:
                raise HTTPException(409, f"run {run} has no checkpoint yet to generate from: POST /save_model "
                                         f"writes one now") from None
            raise
        g = self.store.generator(run, checkpoint)
        seed = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31)
        images = g.sample(request.num_images, seed=seed)
        urls = ["data:image/png;base64," + b64(png_bytes(image_array(x))) for x in images.tensor]
        source = Path(g.source)
        return Generated(num_images=len(images), image=b64(png_bytes(images.grid())), images=urls, seed=seed,
                         run=run, checkpoint=source.name, path=self.store.relative(run, source), step=g.step)

    def model(self) -> tuple[str, str | None]:
        """(run, checkpoint) of the model save, load and generate act on; checkpoint None: the run's newest."""
        loaded = self._loaded()
        if loaded is not None:
            return loaded
        run = self.manager.status.run or self.store.newest_saved()
        if run is None:
            raise HTTPException(409, "there is no model yet: train one (POST /start_training) or load a saved one "
                                     "(POST /load_model)")
        return run, None

    def _loaded(self) -> tuple[str, str] | None:
        if self.loaded is not None and self.loaded[2] == self.manager.status.run:
            return self.loaded[0], self.loaded[1]
        return None

    def _describe(self, run: str, checkpoint: str | None, message: str) -> SavedModel:
        file = self.store.contained(run, self.store.checkpoint_file(run, checkpoint))
        g = self.store.generator(run, checkpoint)
        path = self.store.relative(run, file)
        return SavedModel(message=message.format(path=path, step=g.step), run=run, checkpoint=file.name, path=path,
                          step=g.step)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@functools.cache
def auto_device() -> str:
    from dcgan.device import resolve_device

    return str(resolve_device("auto"))


def seed_status(status: schemas.Status) -> SeedStatus:
    per_epoch, total = status.steps_per_epoch, status.total_steps
    return SeedStatus(
        is_training=status.state in ACTIVE, current_epoch=status.epoch, device=status.device or auto_device(),
        total_epochs=math.ceil(total / per_epoch) if total and per_epoch else None, step=status.step,
        total_steps=total, progress=min(status.step / total, 1.0) if total else None, state=status.state,
        run=status.run, message=status.message)


def seed_metrics(run: str | None, metrics: schemas.Metrics) -> SeedMetrics:
    return SeedMetrics(run=run, epoch=max((e.epoch for e in metrics.epochs), default=0), steps=metrics.step,
                       **{seed: metrics.series.get(ours, [None] * len(metrics.step)) for seed, ours in SERIES.items()})


def epoch_means(metrics: schemas.Metrics, step: int) -> dict[str, float | None]:
    """The epoch that ended at `step`: its mean losses and D scores, as seed 000 reports an epoch."""
    start = max((e.step for e in metrics.epochs if e.step < step), default=0)
    rows = [i for i, s in enumerate(metrics.step) if start < s <= step]
    means = {}
    for seed, ours in EPOCH_MEANS.items():
        values = [v for v in (metrics.series.get(ours, [None] * len(metrics.step))[i] for i in rows) if v is not None]
        means[seed] = sum(values) / len(values) if values else None
    return means


# --- The WebSocket, seed 000's way ---------------------------------------------------------------------------------

class LogUpdate(BaseModel):
    type: Literal["log"] = "log"
    level: str
    message: str
    time: float | None


class Connected(BaseModel):
    """The first message, and the one a client gets again when a new run starts or after it fell behind."""

    type: Literal["connected"] = "connected"
    message: str
    status: SeedStatus
    all_metrics: SeedMetrics
    log: list[LogUpdate] = Field(description="the run's log so far (later lines come as log messages)")
    heartbeat_s: float


class BatchUpdate(BaseModel):
    type: Literal["batch_update"] = "batch_update"
    epoch: int = Field(description="the epoch in progress, from 0")
    batch: int = Field(description="the step's index within its epoch, from 0")
    total_batches: int | None
    step: int
    metrics: dict[str, float | None] = Field(description="loss_d, loss_g, real_score (D(x)), fake_score (D(G(z)))")


class EpochComplete(BaseModel):
    type: Literal["epoch_complete"] = "epoch_complete"
    epoch: int = Field(description="the epoch that ended, from 0")
    step: int
    metrics: dict[str, float | None] = Field(description="the epoch's means: d_loss, g_loss, real_score, fake_score")
    sample_image: str | None = Field(description="the fixed-noise grid at the epoch's end, base64 PNG")
    all_metrics: SeedMetrics


class TrainingComplete(BaseModel):
    type: Literal["training_complete"] = "training_complete"
    message: str
    status: SeedStatus


class TrainingError(BaseModel):
    type: Literal["error"] = "error"
    message: str


class Heartbeat(BaseModel):
    type: Literal["heartbeat"] = "heartbeat"
    timestamp: float


class StatusUpdate(BaseModel):
    type: Literal["status"] = "status"
    status: SeedStatus


class SampleUpdate(BaseModel):
    type: Literal["sample"] = "sample"
    step: int
    image: str | None = Field(description="the fixed-noise grid, base64 PNG")
    url: str


class CheckpointUpdate(BaseModel):
    type: Literal["checkpoint"] = "checkpoint"
    run: str
    step: int
    checkpoint: str
    path: str


class Feed:
    """One /ws connection: the hub's messages (whose bounded, never-waiting fan-out it shares with /api/live)
    turned into seed 000's. Runs on the event loop, in the connection's own sending task."""

    def __init__(self, layer: Seed000):
        self.layer = layer
        self.state: str | None = None
        self.epoch_end: dict[str, Any] | None = None  # an epoch end waiting for its sample grid (which follows it)

    async def translate(self, text: str) -> list[BaseModel]:
        message = json.loads(text)
        kind, out = message["type"], []
        if kind == "hello":
            status = schemas.Status(**message["status"])
            self.epoch_end = None
            out.append(Connected(message="connected to the dcgan training server", status=seed_status(status),
                                 all_metrics=seed_metrics(status.run, schemas.Metrics(**message["history"])),
                                 log=[log_update(line) for line in message["log"]],
                                 heartbeat_s=message["heartbeat_s"]))
            out += self._ended(status)
        elif kind == "status":
            status = schemas.Status(**message["status"])
            out.append(StatusUpdate(status=seed_status(status)))
            out += self._ended(status)
        elif kind == "metrics":
            if self.epoch_end is not None and message["step"] > self.epoch_end["step"]:
                out.append(self._epoch_complete(None))  # its grid never came
            out.append(batch_update(message, self.layer.manager.status.steps_per_epoch))
        elif kind == "epoch":
            self.epoch_end = message
        elif kind == "sample":
            image = await asyncio.to_thread(self._grid, message["run"], message["step"])
            out.append(SampleUpdate(step=message["step"], image=image, url=message["url"]))
            if self.epoch_end is not None and message["step"] >= self.epoch_end["step"]:
                out.append(self._epoch_complete(image))
        elif kind == "log":
            out.append(log_update(message["line"]))
        elif kind == "checkpoint":
            out.append(CheckpointUpdate(run=message["run"], step=message["step"], checkpoint=message["checkpoint"],
                                        path=f"{message['run']}/checkpoints/{message['checkpoint']}"))
        elif kind == "heartbeat":
            out.append(Heartbeat(timestamp=message["time"]))
        return out  # live hyperparameter changes and other events: /api/live has them

    def _ended(self, status: schemas.Status) -> list[BaseModel]:
        """training_complete (after an error for a failed run) when a training this client saw ends."""
        before, self.state = self.state, status.state
        if before not in ACTIVE or status.state not in ENDED:
            return []
        out: list[BaseModel] = [self._epoch_complete(None)] if self.epoch_end is not None else []
        if status.state == "failed":
            out.append(TrainingError(message=f"training error: {status.message}"))
        out.append(TrainingComplete(message=status.message or f"training {status.state}", status=seed_status(status)))
        return out

    def _epoch_complete(self, image: str | None) -> EpochComplete:
        end, self.epoch_end = self.epoch_end, None
        history = self.layer.manager.history.metrics()
        return EpochComplete(epoch=end["epoch"] - 1, step=end["step"], metrics=epoch_means(history, end["step"]),
                             sample_image=image, all_metrics=seed_metrics(end["run"], history))

    def _grid(self, run: str, step: int) -> str | None:
        try:
            return b64(self.layer.store.sample_file(run, step).read_bytes())
        except (HTTPException, OSError):  # the run folder went away meanwhile
            return None


def batch_update(message: dict[str, Any], steps_per_epoch: int | None) -> BatchUpdate:
    values, epoch, step = message["values"], message["epoch"], message["step"]
    batch = step - 1 - epoch * steps_per_epoch if steps_per_epoch else step - 1
    return BatchUpdate(epoch=epoch, batch=max(batch, 0), total_batches=steps_per_epoch, step=step,
                       metrics={seed: values.get(ours) for seed, ours in BATCH_VALUES.items()})


def log_update(line: dict[str, Any]) -> LogUpdate:
    return LogUpdate(level=line["level"], message=line["message"], time=line.get("time"))
