"""Seed 000's API on our server (tag "seed 000 compatibility" in /docs): the endpoints of the "DCGAN Interactive
Demo", each a thin call into dcgan.server.seed000, which maps them onto the run manager and the runs folder.

  GET  /               JSON API information to a client that asks for JSON (Accept: application/json); the
                       dashboard page to a browser
  GET  /status         {is_training, current_epoch, total_epochs, device, step, total_steps, progress, state, run}
  GET  /metrics        {run, epoch, steps, g_losses, d_losses, real_scores, fake_scores}
  POST /start_training {dataset?, epochs?, batch_size?, learning_rate?, device?, ...any TrainConfig option} ->
                       {success, message, run, config, status}
  POST /stop_training  -> {success, message, status}
  POST /generate       {num_images?: 1..64, seed?} -> {success, num_images, image (base64 PNG grid), images (data
                       URLs), seed, run, checkpoint, path, step}
  POST /save_model     -> {success, message, run, checkpoint, path, step, written}
  POST /load_model     {path?} -> the same shape
  WS   /ws             connected, batch_update, epoch_complete, training_complete, error, heartbeat (seed 000's),
                       and status, log, sample, checkpoint
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import FileResponse, Response

from dcgan.server import schemas
from dcgan.server.deps import DrawingTurn, ReadingTurn, Seed
from dcgan.server.routes.live import follow
from dcgan.server.seed000 import (ApiInfo, Feed, Generated, GenerateRequest, LoadRequest, SavedModel, SeedMetrics,
                                  SeedStatus, Started, StartTraining, Stopped, api_info, wants_json)

router = APIRouter(tags=["seed 000 compatibility"])
PAGE = Path(__file__).parents[1] / "static" / "index.html"
ERRORS = {status: {"model": schemas.ErrorResponse} for status in (404, 409, 422)}
WAITS = {**ERRORS, 504: {"model": schemas.ErrorResponse}}
WaitSeconds = Query(30.0, ge=0, le=600, description="how long to wait for the trainer before answering")


@router.get("/", response_model=ApiInfo, responses={200: {"content": {"text/html": {}}}})
def root(request: Request) -> Response | ApiInfo:
    """API information for a client that asks for JSON (`Accept: application/json`); the dashboard page for a
    browser (and anything else)."""
    if wants_json(request.headers.get("accept", "")):
        return api_info()
    return FileResponse(PAGE, headers={"Cache-Control": "no-cache"})


@router.get("/status", response_model=SeedStatus)
async def status(seed: Seed) -> SeedStatus:
    """Training or not, on which device, at which epoch and step, and how far along."""
    return seed.status()


@router.get("/metrics", response_model=SeedMetrics, responses=ERRORS, dependencies=[ReadingTurn])
async def metrics(seed: Seed) -> SeedMetrics:
    """The current or last run's losses and D scores (the loaded run's after /load_model)."""
    return await seed.metrics()


@router.post("/start_training", response_model=Started, responses=ERRORS)
async def start_training(seed: Seed, request: StartTraining = StartTraining()) -> Started:
    """Start a new run from seed 000's form; omitted fields take our defaults. 409 while a training is active;
    422 names a bad field."""
    return await seed.start(request)


@router.post("/stop_training", response_model=Stopped, responses=ERRORS)
async def stop_training(seed: Seed, wait_s: float = WaitSeconds) -> Stopped:
    """Stop after the current step; the trainer writes a checkpoint. 409 when nothing is training."""
    return await seed.stop(wait_s)


@router.post("/generate", response_model=Generated, responses=ERRORS, dependencies=[DrawingTurn])
def generate(seed: Seed, request: GenerateRequest = GenerateRequest()) -> Generated:
    """num_images images from the model (the loaded one, else the current or last run's newest checkpoint)."""
    return seed.generate(request)


@router.post("/save_model", response_model=SavedModel, responses=WAITS)
async def save_model(seed: Seed, wait_s: float = WaitSeconds) -> SavedModel:
    """While training, write a checkpoint now; after, name the checkpoint that holds the model. The answer's
    path is inside the runs folder, as /load_model takes it."""
    return await seed.save(wait_s)


@router.post("/load_model", response_model=SavedModel, responses=ERRORS, dependencies=[DrawingTurn])
def load_model(seed: Seed, request: LoadRequest = LoadRequest()) -> SavedModel:
    """Select a saved run or checkpoint (inside the runs folder) for /generate; default: the one written last."""
    return seed.load(request.path)


@router.websocket("/ws")
async def live_updates(websocket: WebSocket) -> None:
    """The live feed in seed 000's shapes; the same hub as /api/live (no client can slow training)."""
    feed = Feed(websocket.app.state.seed000)

    async def send(text: str) -> None:
        for message in await feed.translate(text):
            await websocket.send_text(message.model_dump_json())

    await follow(websocket, send)
