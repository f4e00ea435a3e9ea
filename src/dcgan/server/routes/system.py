"""What this machine offers and what a config means: versions, devices, datasets available offline, the config
schema the page builds its form from, and a config's resolved values and architecture before training."""

from __future__ import annotations

import platform

from fastapi import APIRouter, Query

from dcgan import __version__, budget
from dcgan.config import MAIN_GROUPS, PRESETS, TrainConfig, schema
from dcgan.control import FORK_FIXED, LIVE_FIELDS
from dcgan.datasets import get as dataset_kind, is_named
from dcgan.losses import LOSSES
from dcgan.server import schemas
from dcgan.server.deps import AppSettings, Roots
from dcgan.server.manager import check_length
from dcgan.server.process import LAUNCHER_OPTIONS
from dcgan.server.routes.runs import EXPORT_FORMATS, MODES, architecture_of
from dcgan.vocabulary import STEP_METRICS

router = APIRouter(prefix="/api", tags=["system"])
INVALID = {422: {"model": schemas.ErrorResponse}}


@router.get("/system", response_model=schemas.SystemInfo)
def system_info(settings: AppSettings) -> schemas.SystemInfo:
    import torch
    import torchvision

    return schemas.SystemInfo(version=__version__, python=platform.python_version(), torch=torch.__version__,
                              torchvision=torchvision.__version__, threads=torch.get_num_threads(),
                              runs_dir=str(settings.runs_dir), token_required=settings.token is not None)


@router.get("/system/devices", response_model=schemas.DeviceList)
def devices() -> schemas.DeviceList:
    """Devices this machine can train on, best first (the config's device "auto" picks the first)."""
    from dcgan.device import available_devices

    return schemas.DeviceList(devices=[schemas.Device(**d) for d in available_devices()])


@router.get("/system/datasets", response_model=schemas.DatasetList, responses=INVALID)
def datasets(roots: Roots, data_dir: str = Query("./data", max_length=1024, description="the config's "
                                                         "data_dir (inside the server's data roots)")
             ) -> schemas.DatasetList:
    """The named datasets: their native format and class names, and where each would be read from without a
    download (path None: it would be downloaded)."""
    from dcgan.data import available_offline
    from dcgan.datasets import DATASETS, data_home
    from dcgan.metrics.features import find_classifier

    found = available_offline(roots.check_data_dir(data_dir))
    return schemas.DatasetList(data_dir=data_dir, data_home=str(data_home()), datasets=[
        schemas.Dataset(name=n, path=found[n], summary=k.summary, image_size=k.image_size, channels=k.channels,
                        class_names=list(k.class_names), classifier=find_classifier(n) is not None)
        for n, k in DATASETS.items()])


@router.get("/config/schema", response_model=schemas.ConfigSchema)
def config_schema() -> schemas.ConfigSchema:
    """Every training option with its type, default, help, bounds, choices and group; the presets; which options
    can change during training, which a fork must keep, which groups forms show first, and which options the
    launcher sets; the metrics' names and labels; the objectives and whether D's outputs are probabilities; the
    interpolation modes and export formats the drawing routes take."""
    return schemas.ConfigSchema(fields=[schemas.ConfigField(**row) for row in schema()], presets=PRESETS,
                                live_fields=list(LIVE_FIELDS), fork_fixed=list(FORK_FIXED),
                                main_groups=list(MAIN_GROUPS), launcher_options=list(LAUNCHER_OPTIONS),
                                metrics=[schemas.MetricName(**m._asdict()) for m in STEP_METRICS.values()],
                                losses=[schemas.Objective(name=name, source=o.source, probabilities=o.probabilities,
                                                          gradient_penalty=o.gradient_penalty)
                                        for name, o in LOSSES.items()],
                                interpolation_modes=choices(MODES), export_formats=choices(EXPORT_FORMATS))


def choices(labels: dict[str, str]) -> list[schemas.Choice]:
    return [schemas.Choice(name=name, label=label) for name, label in labels.items()]


@router.post("/config/resolve", response_model=schemas.ResolvedConfig, responses=INVALID)
def resolve(request: schemas.ConfigRequest) -> schemas.ResolvedConfig:
    """Validate options and fill in what training would (native size, length, seed); 422 names a bad one. The
    steps an epoch and the run take, for one process, where the dataset's size is known (not a folder's)."""
    config = TrainConfig.from_dict(request.config).resolved()
    images = dataset_kind(config.dataset).train_images if is_named(config.dataset) else 0
    per_epoch = images // config.images_per_step() if images else None
    total = config.steps if config.steps is not None else config.epochs * per_epoch if per_epoch else None
    check_length(config, total)
    return schemas.ResolvedConfig(config=config.to_dict(), steps_per_epoch=per_epoch, total_steps=total)


@router.post("/config/architecture", response_model=schemas.Architecture, responses=INVALID)
def config_architecture(request: schemas.ConfigRequest, settings: AppSettings) -> schemas.Architecture:
    """The layers the options would build, measured on the real models (on the meta device: nothing is
    allocated); 422 for networks whose training would not fit the server's memory budget."""
    config = TrainConfig.from_dict(request.config).resolved()
    budget.check(budget.model_cost(config), settings.memory_budget)
    return architecture_of(config)
