"""Dependencies as `Annotated` aliases, so route signatures read like the API they define."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, AsyncIterator

from fastapi import Depends, HTTPException, Path, Request

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


# --- Drawing with a generator: one request at a time ------------------------------------------------------------

class Turns:
    """The turns of requests for one kind of expensive work, `at_once` at a time. A drawing is held to the memory
    budget before it starts (RunStore.generator) and reading a run's history costs its file's length in CPU time and
    its answer in memory: taking turns keeps concurrent requests from multiplying either. A request waits for its
    turn on the event loop, holding no worker thread."""

    def __init__(self, at_once: int, busy: str = "image requests are waiting for the generator already; try again "
                 "when they are drawn", most_waiting: int = 32):
        self.turns = asyncio.Semaphore(at_once)
        self.busy = busy  # what a request told to retry reads after the count of those waiting
        self.most_waiting = most_waiting  # beyond it a request is told to retry (a queue without bound is not one)
        self.waiting = 0  # requests waiting for their turn

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self.waiting >= self.most_waiting:
            raise HTTPException(429, f"{self.waiting} {self.busy}", headers={"Retry-After": "5"})
        self.waiting += 1
        try:
            await self.turns.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.turns.release()


async def drawing_turn(request: Request) -> AsyncIterator[None]:
    async with request.app.state.drawing.turn():
        yield


async def reading_turn(request: Request) -> AsyncIterator[None]:
    async with request.app.state.reading.turn():
        yield


DrawingTurn = Depends(drawing_turn)  # a route that draws images: `dependencies=[DrawingTurn]`
ReadingTurn = Depends(reading_turn)  # a route that reads runs' whole metric histories
