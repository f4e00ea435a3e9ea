"""Dependencies as `Annotated` aliases, so route signatures read like the API they define."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from dcgan.server import schemas
from dcgan.server.dataroots import DataRoots
from dcgan.server.manager import RunManager
from dcgan.server.runs import RunStore
from dcgan.server.seed000 import Seed000
from dcgan.server.settings import Settings


def get_manager(request: Request) -> RunManager:
    return request.app.state.manager


def get_store(request: Request) -> RunStore:
    return request.app.state.store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_seed000(request: Request) -> Seed000:
    return request.app.state.seed000


def get_data_roots(request: Request) -> DataRoots:
    return request.app.state.manager.data_roots


Manager = Annotated[RunManager, Depends(get_manager)]
Store = Annotated[RunStore, Depends(get_store)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Seed = Annotated[Seed000, Depends(get_seed000)]
Roots = Annotated[DataRoots, Depends(get_data_roots)]
RunName = Annotated[str, Path(pattern=schemas.RUN_NAME, description="a run folder's name inside the runs folder")]
Step = Annotated[int, Path(ge=0, le=10**12, description="a training step")]
