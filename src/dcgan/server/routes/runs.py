"""Runs in the runs folder: list, config, metrics, sample grids, log, record, evaluation, checkpoints,
architecture, and images from their generators (grids, latent interpolations, vector arithmetic)."""

from __future__ import annotations

import dataclasses
import io
import random
import threading
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from PIL import Image
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response

from dcgan.config import TrainConfig
from dcgan.export import FORMATS
from dcgan.latent import INTERPOLATORS, arithmetic, interpolate
from dcgan.models import build_discriminator, build_generator
from dcgan.rundir import REAL_GRID, RunFolder
from dcgan.server import schemas
from dcgan.server.deps import DrawingTurn, Manager, ReadingTurn, RunName, Step, Store
from dcgan.summary import architecture as model_architecture
from dcgan.summary import summarize

router = APIRouter(prefix="/api/runs", tags=["runs"])
NOT_FOUND = {404: {"model": schemas.ErrorResponse}, 422: {"model": schemas.ErrorResponse}}
PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}, **NOT_FOUND}
GIF = {200: {"content": {"image/gif": {}}, "description": "an animated GIF"}, **NOT_FOUND}
Label = Annotated[str | None, Query(min_length=1, max_length=64, description="the class to draw, for a conditional "
                                   "run: a number or a name (7, sneaker)")]
Checkpoint = Annotated[str | None, Query(pattern=schemas.CHECKPOINT_NAME, description="default: the run's "
                                         "selected checkpoint, else its last")]
FromSeed = Annotated[int, Query(ge=0, le=schemas.MAX_SEED, description="the seed whose z starts the path")]
ToSeed = Annotated[int, Query(ge=0, le=schemas.MAX_SEED, description="the seed whose z ends it")]
PathSteps = Annotated[int, Query(ge=2, le=64, description="images along the path, both ends included")]
MODES = {"slerp": "slerp (spherical)", "lerp": "lerp (straight line)"}  # dcgan.latent.INTERPOLATORS, for people
Mode = Annotated[Literal[tuple(INTERPOLATORS)], Query(description="slerp (along the sphere, as the paper advises "
                                                                  "for Gaussian z) or lerp (a straight line)")]


@router.get("", response_model=schemas.RunList, dependencies=[ReadingTurn])  # every run's files: a turn
def list_runs(store: Store, manager: Manager) -> schemas.RunList:
    """Every run folder, newest first, with its last known status (interrupted: its trainer is gone; broken: it
    cannot be read, with the reason)."""
    runs = store.summaries(active=manager.status.run if manager.busy else None)
    return schemas.RunList(runs=sorted(runs, key=lambda r: r.updated or 0, reverse=True))


@router.get("/{name}", response_model=schemas.RunDetail, responses=NOT_FOUND)
def run_detail(name: RunName, store: Store, manager: Manager) -> schemas.RunDetail:
    """A run's summary, its chosen and resolved options, checkpoints and sample steps."""
    return schemas.RunDetail(summary=store.summary(name, active=manager.status.run if manager.busy else None),
                             config=store.config(name), resolved=store.resolved(name), options=store.options(name),
                             checkpoints=store.checkpoints(name),
                             sample_steps=store.samples(name), selected_checkpoint=store.selected.get(name),
                             changes=store.changes(name))


@router.get("/{name}/metrics", response_model=schemas.Metrics, responses=NOT_FOUND, dependencies=[ReadingTurn])
def metrics(name: RunName, store: Store,
            max_points: int = Query(1000, ge=10, le=20000, description="longer histories are averaged down")
            ) -> schemas.Metrics:
    """The logged metrics as columns (step, loss/D, loss/G, D/real, D/fake, ...: an older run's names read as
    these), with epoch ends and live changes."""
    return store.metrics(name, max_points)


@router.get("/{name}/samples", response_model=schemas.SampleSteps, responses=NOT_FOUND)
def sample_steps(name: RunName, store: Store) -> schemas.SampleSteps:
    """The steps at which the run saved its fixed-noise grid (at most MAX_SAMPLE_STEPS of them, evenly thinned,
    with the stride, their count and both ends)."""
    return store.samples(name)


@router.get("/{name}/samples/{step}.png", response_class=FileResponse, responses=PNG)
def sample_image(name: RunName, step: Step, store: Store) -> FileResponse:
    """The fixed-noise grid at a step."""
    return FileResponse(store.sample_file(name, step), media_type="image/png")


@router.get("/{name}/real.png", response_class=FileResponse, responses=PNG)
def real_image(name: RunName, store: Store) -> FileResponse:
    """Real training images laid out as the fixed-noise grid (same count, columns and size), written when the run
    started: what G aims at."""
    path = RunFolder(store.run(name)).file(REAL_GRID)
    if not path.is_file():
        raise HTTPException(404, f"run {name!r} has no grid of real images (runs started before it existed have "
                                 f"none; resuming the run writes it)")
    return FileResponse(path, media_type="image/png")


@router.get("/{name}/log", response_model=schemas.LogTail, responses=NOT_FOUND)
def run_log(name: RunName, store: Store,
            lines: int = Query(500, ge=1, le=10000, description="the last lines of log.txt")) -> schemas.LogTail:
    """The run's log lines (newest last)."""
    return schemas.LogTail(lines=store.log_tail(name, lines))


@router.get("/{name}/record", response_model=schemas.RunRecord, responses=NOT_FOUND)
def run_record(name: RunName, store: Store) -> schemas.RunRecord:
    """run.json: seed, package versions, device, determinism flags, dataset fingerprint, parent, and the command
    or API call of every session of the run."""
    return schemas.RunRecord(**store.record(name))


@router.get("/{name}/eval", response_model=schemas.EvalReport, responses=NOT_FOUND)
def run_eval(name: RunName, store: Store) -> schemas.EvalReport:
    """The run's evaluation (FID, KID, precision/recall, ...) as `dcgan eval` wrote it to eval.json."""
    report = RunFolder(store.run(name)).evaluation()
    if not isinstance(report, dict):
        raise HTTPException(404, f"run {name!r} has not been evaluated; run `dcgan eval runs/{name}`")
    return schemas.EvalReport(**report)


@router.get("/{name}/architecture", response_model=schemas.Architecture, responses=NOT_FOUND)
def run_architecture(name: RunName, store: Store) -> schemas.Architecture:
    """G's and D's layers, output shapes and parameter counts, measured on the real models of the run's config."""
    return architecture_of(TrainConfig.from_saved(store.config(name)).resolved("cpu"))


@router.get("/{name}/generator", response_model=schemas.GeneratorInfo, responses=NOT_FOUND, dependencies=[DrawingTurn])
def generator(name: RunName, store: Store) -> schemas.GeneratorInfo:
    """The checkpoint generation uses for this run: the selected one, else the last."""
    return generator_info(name, store)


@router.put("/{name}/generator", response_model=schemas.GeneratorInfo, responses=NOT_FOUND, dependencies=[DrawingTurn])
def select_generator(name: RunName, request: schemas.GeneratorRequest, store: Store) -> schemas.GeneratorInfo:
    """Load a checkpoint of the run (None: back to its last) and use it for generation from now on."""
    store.generator(name, request.checkpoint)  # loads it: a damaged file is refused before it is selected
    if request.checkpoint is None:
        store.selected.pop(name, None)
    else:
        store.selected[name] = request.checkpoint
    return generator_info(name, store)


def class_of(g, label: str | None) -> int | None:
    """A class query (7 or sneaker) -> the generator's label: one 422 listing its classes for one it lacks."""
    return None if label is None else g.class_id(int(label) if label.strip().isdigit() else label)


@router.get("/{name}/generate.png", response_class=Response, responses=PNG, dependencies=[DrawingTurn])
def generate(name: RunName, store: Store,
             count: int = Query(64, ge=1, le=256, description="images in the grid"),
             seed: int | None = Query(None, ge=0, le=schemas.MAX_SEED, description="the same seed gives the same "
                                      "images; default: a random one (returned in X-Seed)"),
             label: Label = None, checkpoint: Checkpoint = None) -> Response:
    """A grid of `count` images from the run's generator, as PNG."""
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    g = store.generator(name, checkpoint)
    png = fast_png(g.sample(count, seed=seed, label=class_of(g, label)).grid())
    return image(png, "png", f"{name}-step{g.step}-seed{seed}-{count}", {"X-Seed": str(seed), "X-Step": str(g.step),
                                                                        "X-Count": str(count)})


@router.get("/{name}/interpolate.png", response_class=Response, responses=PNG, dependencies=[DrawingTurn])
def interpolate_strip(name: RunName, store: Store, from_seed: FromSeed = 0, to_seed: ToSeed = 1,
                      steps: PathSteps = 10, mode: Mode = "slerp", label: Label = None,
                      checkpoint: Checkpoint = None) -> Response:
    """The images on the path between two seeds' z, as one strip (Radford et al. 2015, section 6.1)."""
    g = store.generator(name, checkpoint)
    strip = interpolate(g, from_seed, to_seed, steps=steps, mode=mode, label=class_of(g, label))
    return image(strip.png_bytes(), "png", f"{name}-{mode}-{from_seed}-{to_seed}", {"X-Step": str(g.step)})


@router.get("/{name}/interpolate.gif", response_class=Response, responses=GIF, dependencies=[DrawingTurn])
def interpolate_animation(name: RunName, store: Store, from_seed: FromSeed = 0, to_seed: ToSeed = 1,
                          steps: PathSteps = 10, mode: Mode = "slerp", label: Label = None,
                          checkpoint: Checkpoint = None,
                          fps: float = Query(10, ge=0.1, le=60, description="frames per second (a GIF holds a frame "
                                            "at most 655 s)")) -> Response:
    """The same path as an animated GIF that plays there and back."""
    g = store.generator(name, checkpoint)
    strip = interpolate(g, from_seed, to_seed, steps=steps, mode=mode, label=class_of(g, label))
    return image(strip.gif_bytes(fps), "gif", f"{name}-{mode}-{from_seed}-{to_seed}", {"X-Step": str(g.step)})


@router.post("/{name}/arithmetic.png", response_class=Response, responses=PNG, dependencies=[DrawingTurn])
def vector_arithmetic(name: RunName, request: schemas.ArithmeticRequest, store: Store) -> Response:
    """G(mean(A) - mean(B) + mean(C)) for groups of seeds, drawn as the paper's figure 7 (section 6.3): each
    group's samples over the image of its mean, then the result among variations of it."""
    g = store.generator(name, request.checkpoint)
    result = arithmetic(g, request.a, request.b, request.c, variations=request.variations,
                        noise_scale=request.noise_scale, seed=request.seed,
                        label=class_of(g, None if request.label is None else str(request.label)))
    return image(result.png_bytes(), "png", f"{name}-arithmetic", {"X-Step": str(g.step)})


# One export at a time: an ONNX export traces G with torch.export (seconds of CPU), and a page carries ~5 MB of
# onnxruntime-web; a second request while one runs is told to retry instead of queueing without bound.
EXPORTS = threading.BoundedSemaphore(1)
# dcgan.export.FORMATS for people, the default first (the page's choices, GET /api/config/schema).
EXPORT_FORMATS = {"page": "web page (generates in the browser, offline)", "onnx": "ONNX", "torchscript": "TorchScript",
                  "safetensors": "safetensors"}
ExportFormat = Annotated[Literal[FORMATS], Query(
    description="page (index.html that generates in the browser), onnx, torchscript or safetensors")]
ZIP = {200: {"content": {"application/zip": {}}, "description": "a zip of one folder: the model (or the page), "
             "manifest.json, MODEL_CARD.md and samples.png"},
       429: {"model": schemas.ErrorResponse, "description": "another export is being made; retry after it"},
       **NOT_FOUND}


@router.get("/{name}/export.zip", response_class=Response, responses=ZIP, dependencies=[DrawingTurn])
def export_zip(name: RunName, store: Store, format: ExportFormat = "page", checkpoint: Checkpoint = None
               ) -> Response:
    """The run's generator (the EMA weights when it keeps them) for sharing, as `dcgan export` writes it: ONNX,
    TorchScript, safetensors, or a page that generates in the browser, with a manifest and a model card."""
    from dcgan.export import export_zip as make_zip

    if not EXPORTS.acquire(blocking=False):
        raise HTTPException(429, "another export is being made; try again when it has finished",
                            headers={"Retry-After": "10"})
    try:
        g = store.generator(name, checkpoint)
        stem = f"{name}-step{g.step}-{format}"
        data = make_zip(g, format, store.run(name), stem)
    finally:
        EXPORTS.release()
    return Response(data, media_type="application/zip", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{stem}.zip"',
        "X-Step": str(g.step)})


def fast_png(array: np.ndarray) -> bytes:
    """PNG at zlib level 1: a few percent larger than the default level, several times faster to encode, which
    is most of an interactive request's time after G itself."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def image(data: bytes, kind: str, stem: str, headers: dict[str, str]) -> Response:
    return Response(data, media_type=f"image/{kind}", headers={
        **headers, "Cache-Control": "no-store", "Content-Disposition": f'inline; filename="{stem}.{kind}"'})


def architecture_of(config: TrainConfig) -> schemas.Architecture:
    """Measured on the meta device: every layer's shape and parameters, without allocating a single weight."""
    with torch.device("meta"):
        if config.conditional:
            return conditional_architecture(config)
        return schemas.Architecture(**model_architecture(config))


def conditional_architecture(config: TrainConfig) -> schemas.Architecture:
    """G's and D's layers for a conditional config (the class count defaults to the dataset's, 10 for the
    labelled named datasets, before training has set it)."""
    if config.num_classes is None:
        config = dataclasses.replace(config, num_classes=10)
    networks = {}
    for key, model, example in (
            ("generator", build_generator(config), torch.zeros(2, config.latent_dim)),
            ("discriminator", build_discriminator(config),
             torch.zeros(2, config.channels, config.image_size, config.image_size))):
        rows = summarize(model, example, torch.zeros(len(example), dtype=torch.long))  # class 0 for each
        layers = [schemas.Layer(name=r.name, kind=r.kind, output_shape=r.output_shape, params=r.params)
                  for r in rows]
        networks[key] = schemas.Network(layers=layers, params=sum(p.numel() for p in model.parameters()))
    return schemas.Architecture(**networks)


def generator_info(name: str, store: Store) -> schemas.GeneratorInfo:
    g = store.generator(name)
    return schemas.GeneratorInfo(run=name, checkpoint=Path(g.source).name, step=g.step,
                                 image_size=g.config.image_size, channels=g.config.channels,
                                 latent_dim=g.config.latent_dim, num_classes=g.num_classes, class_names=g.classes)
