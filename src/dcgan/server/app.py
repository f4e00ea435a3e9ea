"""The app factory: REST API, live WebSocket, the page and its static files, and OpenAPI docs, in one process.

    app = create_app("runs")                      # uvicorn.run(app); `dcgan serve` does this
    app = create_app("runs", token="secret")      # every request must carry the token
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from dcgan import __version__, budget
from dcgan.errors import CheckpointError, ConfigError, DataError, DcganError
from dcgan.server import schemas
from dcgan.server.deps import Turns
from dcgan.server.manager import RunManager
from dcgan.server.routes import compare, health, latent, live, runs, seed000, system, training
from dcgan.server.runs import RunStore
from dcgan.server.seed000 import Seed000
from dcgan.server.security import CORS_HEADERS, CORS_METHODS, AccessGuard, SiteGuard
from dcgan.server.settings import Settings

STATIC = Path(__file__).parent / "static"
PATTERNS = {
    schemas.RUN_NAME: "a run name is letters, digits, '.', '_' and '-', starting with a letter or digit (no "
                      "slashes: runs live directly in the runs folder)",
    schemas.CHECKPOINT_NAME: "a checkpoint is a file name from the run's checkpoints/ (step-NNNNNNN.pt) or "
                             "generator.safetensors",
}
# What FastAPI answers when reading the body raised anything but a JSON syntax error (its exception is the cause).
FASTAPI_UNREADABLE_BODY = "There was an error parsing the body"
log = logging.getLogger("dcgan.server")


def create_app(runs_dir: str | Path = "runs", **options: Any) -> FastAPI:
    """The dashboard app over a runs folder; `options` are further Settings fields (token, allowed_hosts,
    allowed_origins, limits)."""
    settings = Settings(runs_dir=Path(runs_dir), **options)
    store = RunStore(settings.runs_dir, memory_budget=settings.memory_budget)
    manager = RunManager(settings, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        manager.attach(asyncio.get_running_loop())
        heartbeat = asyncio.create_task(manager.hub.heartbeat())
        # The memory estimates build models on the meta device, whose kernels load once (about a second): load
        # them now, off the event loop, so the first request that is measured does not wait for them.
        threading.Thread(target=budget.warm_up, name="dcgan-warm-up", daemon=True).start()
        try:
            yield
        finally:
            heartbeat.cancel()
            await manager.shutdown()

    app = FastAPI(title="dcgan dashboard", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Train, watch and use DCGANs: training control, runs, generation and a live "
                              "WebSocket feed (`/api/live`).")
    app.state.settings, app.state.store, app.state.manager = settings, store, manager
    app.state.seed000 = Seed000(manager, store)
    app.state.drawing = Turns(settings.max_drawing)
    app.state.reading = Turns(settings.max_reading, "requests for metric histories are waiting to be read already; "
                                                    "try again when they are answered")
    for module in (training, runs, latent, health, compare, system, live, seed000):
        app.include_router(module.router)
    # The last middleware added runs first: SiteGuard, then CORS (see dcgan.server.security), then AccessGuard.
    app.add_middleware(AccessGuard, token=settings.token, max_body_bytes=settings.max_body_bytes)
    if settings.allowed_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.allowed_origins, allow_methods=CORS_METHODS,
                           allow_headers=CORS_HEADERS)
    app.add_middleware(SiteGuard, allowed_hosts=settings.allowed_hosts, allowed_origins=settings.allowed_origins)
    add_error_handlers(app, settings, manager.scrub)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        # Swagger UI from the package's own copy: the docs work offline like the page.
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="dcgan API",
                                   swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    return app


# --- Errors: one clear message, with the field at fault, never a traceback -------------------------------------

def add_error_handlers(app: FastAPI, settings: Settings, scrub: Callable[[str], str]) -> None:
    """`scrub` hides file paths outside the server's folders: answers never tell what else is on its disk."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [field_error(e) for e in exc.errors()]
        detail = "; ".join(f"{e.field}: {e.reason}" if e.field else e.reason for e in errors)
        return error_response(422, detail, errors)

    @app.exception_handler(DcganError)
    async def dcgan_error(request: Request, exc: DcganError) -> JSONResponse:
        message = scrub(str(exc))
        if isinstance(exc, (ConfigError, DataError)):
            field = exc.field if isinstance(exc, ConfigError) else "dataset"
            # A value of the query (a drawing's label, block, class; given or missing: a GET has no body) or, else,
            # of the body's options.
            in_query = field in request.query_params or request.method == "GET"
            loc = ["query", *([field] if field else [])] if in_query else body_loc(request.url.path, field)
            return error_response(422, message, [schemas.FieldError(field=field, loc=loc, reason=message)])
        status = 409 if isinstance(exc, CheckpointError) else 400
        return error_response(status, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_UNREADABLE_BODY:
            # Read as JSON, the body broke the decoder itself (not its grammar, which is a json_invalid above).
            reason = f"the body is not valid JSON ({unreadable(exc.__cause__)})"
            return error_response(422, f"{reason}; send a JSON object as /docs shows",
                                  [schemas.FieldError(field=None, loc=["body"], reason=reason)])
        detail = scrub(str(exc.detail))
        if exc.status_code == 413:
            detail = f"the request body is larger than {settings.max_body_bytes} bytes; send less"
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"nothing at {request.url.path}; the API is listed at /docs"
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, scrub(f"internal error ({type(exc).__name__}: {exc}); the server's log has "
                                         f"details"))


# Where a request's body holds the options a ConfigError names: under "config" (a start, a preview), under "changes"
# (a fork, a live change), or at its top (seed 000's start; a resume's own fields; a run's drawing).
OPTIONS_IN = {"/api/training/fork": "changes", "/api/training/hyperparameters": "changes", "/start_training": "",
              "/api/training/resume": ""}


def body_loc(path: str, field: str | None) -> list[str]:
    """The place in the body of `path`'s request of the option `field` a ConfigError names."""
    key = "" if path.startswith("/api/runs/") else OPTIONS_IN.get(path, "config")  # a run's drawing: at the top
    if path == "/api/training/resume" and field not in schemas.ResumeRequest.model_fields:
        field = None  # a value of the run's own config (its resolved options), not of the request
    return ["body", *([key] if key else []), *([field] if field else [])]


def unreadable(cause: BaseException | None) -> str:
    """Why Python's JSON decoder gave up on a body, in the client's terms (not the server's remedies)."""
    if isinstance(cause, RecursionError):
        return "it is nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "it is not UTF-8 text"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "a number in it has too many digits"
    return f"{type(cause).__name__}" if cause is not None else "it cannot be decoded"


def field_error(error: dict[str, Any]) -> schemas.FieldError:
    """One of pydantic's errors in our shape, with a plain reason for the patterns our names follow."""
    loc = list(error["loc"])
    if error["type"] == "json_invalid":
        return schemas.FieldError(field=None, loc=loc, reason=f"the body is not valid JSON ({error['ctx']['error']} "
                                                              f"at character {loc[-1]})")
    where = ".".join(str(p) for p in loc[1:]) or None
    reason = PATTERNS.get(error.get("ctx", {}).get("pattern"), error["msg"])
    if error["type"] == "value_error":  # our validators' own words, without pydantic's "Value error, "
        reason = str(error["ctx"]["error"])
    if error["type"] == "missing" and where is None:
        reason = "the request needs a JSON body (see /docs)"
    return schemas.FieldError(field=where, loc=loc, reason=reason)


def error_response(status: int, detail: str, errors: list[schemas.FieldError] = (),
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = schemas.ErrorResponse(detail=detail, errors=list(errors))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)
