"""Training control: status, start, stop, resume and fork of the server's one training, and steering it while it
learns (pause, single steps, live hyperparameters, checkpoint now)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from dcgan.config import TrainConfig
from dcgan.server import schemas
from dcgan.server.deps import Manager

router = APIRouter(prefix="/api", tags=["training"])
ERRORS = {409: {"model": schemas.ErrorResponse}, 422: {"model": schemas.ErrorResponse}}
WAITS = {**ERRORS, 504: {"model": schemas.ErrorResponse}}
WaitSeconds = Query(30.0, ge=0, le=600, description="how long to wait for the trainer before answering")


@router.get("/status", response_model=schemas.Status)
async def status(manager: Manager) -> schemas.Status:
    """idle, starting, running, paused, stopped, finished or failed; with step, speed and ETA while training."""
    return manager.current()


@router.post("/training/start", response_model=schemas.Status, status_code=202, responses=ERRORS)
async def start(request: schemas.StartRequest, manager: Manager) -> schemas.Status:
    """Start a new run; answers once the data and models are ready and training goes on in the background
    (with nproc > 1, at once: its processes start in the background). 409 while another training is active;
    422 names a bad option and says why."""
    return await manager.start(TrainConfig.from_dict(request.config), request.name, request.nproc, request.paused)


@router.post("/training/resume", response_model=schemas.Status, status_code=202, responses=ERRORS)
async def resume(request: schemas.ResumeRequest, manager: Manager) -> schemas.Status:
    """Continue a stopped run from its last checkpoint (or `checkpoint`); a larger steps or epochs total extends
    a finished one. Its live hyperparameter changes are replayed."""
    return await manager.resume(request)


@router.post("/training/fork", response_model=schemas.Status, status_code=202, responses=ERRORS)
async def fork(request: schemas.ForkRequest, manager: Manager) -> schemas.Status:
    """A new run from a checkpoint of any run, with some options changed; it records its parent and step."""
    return await manager.fork(request)


@router.post("/training/stop", response_model=schemas.Status, responses=ERRORS)
async def stop(manager: Manager, wait_s: float = WaitSeconds) -> schemas.Status:
    """Stop after the current step; the trainer writes a checkpoint and the status becomes stopped."""
    return await manager.stop(wait_s)


@router.post("/training/pause", response_model=schemas.Status, responses=WAITS)
async def pause(manager: Manager, wait_s: float = WaitSeconds) -> schemas.Status:
    """Hold at the next step boundary, in place (nothing is reloaded); the status becomes paused."""
    return await manager.pause(wait_s)


@router.post("/training/unpause", response_model=schemas.Status, responses=WAITS)
async def unpause(manager: Manager, wait_s: float = WaitSeconds) -> schemas.Status:
    """Go on training from where the run was paused."""
    return await manager.unpause(wait_s)


@router.post("/training/step", response_model=schemas.StepResult, responses=WAITS)
async def single_step(request: schemas.StepRequest, manager: Manager,
                      wait_s: float = WaitSeconds) -> schemas.StepResult:
    """While paused: exactly one D update (d), one G update (g) or one full step; answers with its metrics and
    the fixed-noise grid after it."""
    return await manager.single_step(request.part, wait_s)


@router.get("/training/hyperparameters", response_model=schemas.Hyperparameters)
async def hyperparameters(manager: Manager) -> schemas.Hyperparameters:
    """The options that can change during training, their values and the run's changes so far."""
    return manager.hyperparameters()


@router.patch("/training/hyperparameters", response_model=schemas.Hyperparameters, responses=ERRORS)
async def set_hyperparameters(request: schemas.HyperparameterRequest, manager: Manager) -> schemas.Hyperparameters:
    """Change live options (learning rates, D steps, label smoothing, instance noise, intervals) from the next
    step; each change is recorded in metrics.jsonl and pushed on the WebSocket as an hparam event. Other
    options answer 422: fork the run to change them."""
    return manager.set_hyperparameters(request.changes)


@router.post("/training/checkpoint", response_model=schemas.CheckpointResult, responses=WAITS)
async def checkpoint(manager: Manager, wait_s: float = WaitSeconds) -> schemas.CheckpointResult:
    """Write a checkpoint of the active run after its current step (also while paused)."""
    return await manager.checkpoint(wait_s)
