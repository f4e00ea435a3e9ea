"""A real dashboard server for the API tests: uvicorn on a free loopback port in a thread of the test process,
shared by the whole session (training on real Fashion-MNIST, decoded once), with httpx and WebSocket helpers."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
import uvicorn
from websockets.sync.client import ClientConnection, connect

from dcgan.commands.serve import listen
from dcgan.config import TrainConfig
from dcgan.server import create_app
from dcgan.server.http import REQUEST_SECONDS, server_config

# Tiny networks and batches: a step takes milliseconds on a CPU, so tests see many steps in little time.
TINY = dict(dataset="fashion-mnist", g_width=8, d_width=8, latent_dim=16, batch_size=32, lr=2e-4, log_every=1,
            sample_every=5, checkpoint_every=1000, sample_count=16, tensorboard=False, seed=7)


@dataclass
class Server:
    url: str
    runs: Path
    app: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/live"

    @property
    def manager(self):
        return self.app.state.manager

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


@pytest.fixture(scope="session")
def server(fashion, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    app = create_app(runs, heartbeat_s=0.5)
    app.state.manager.use_data(TrainConfig(**TINY), fashion)
    with serving(app, runs) as running:
        yield running


@contextlib.contextmanager
def serving(app: Any, runs: Path, request_seconds: float = REQUEST_SECONDS, **bounds: Any):
    """uvicorn serving `app` on a free loopback port, in a thread, until the block ends: configured as `dcgan serve`
    configures it (h11, its head limit, request deadline and connection limit; `bounds` changes them)."""
    sock = listen("127.0.0.1", 0)
    uv = uvicorn.Server(server_config(app, request_seconds, **bounds))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{sock.getsockname()[1]}", runs, app)
    finally:
        uv.should_exit = True
        thread.join(60)


@pytest.fixture
def api(server):
    """An HTTP client; after the test, any training it left is stopped so the next test starts idle."""
    with server.client() as client:
        yield client
        if server.manager.busy:
            client.post("/api/training/stop", params={"wait_s": 60})
        assert not server.manager.busy


def start(api: httpx.Client, name: str | None = None, **options: Any) -> dict:
    body = {"config": {**TINY, **options}}
    if name:
        body["name"] = name
    response = api.post("/api/training/start", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def wait_status(api: httpx.Client, test: Callable[[dict], bool], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = api.get("/api/status").json()
        if test(status):
            return status
        assert time.monotonic() < deadline, f"status never matched: {status}"
        time.sleep(0.05)


def finish(api: httpx.Client, steps: int = 10, name: str | None = None, **options: Any) -> str:
    """A short run trained to its end; returns its name."""
    run = start(api, name, steps=steps, **options)["run"]
    wait_idle(api)
    assert api.get("/api/status").json()["state"] == "finished"
    return run


def wait_idle(api: httpx.Client, timeout: float = 60) -> None:
    """The worker has ended (the status is final and the next start will be accepted)."""
    deadline = time.monotonic() + timeout
    while api.get("/api/status").json()["state"] in ("starting", "running", "paused"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.1)


class Live:
    """A WebSocket client that reads in the background and lets a test wait for messages."""

    def __init__(self, url: str):
        self.stack = contextlib.ExitStack()
        self.ws: ClientConnection = self.stack.enter_context(connect(url, max_size=None))
        self.messages: list[dict] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                with self.cond:
                    self.messages.append(json.loads(text))
                    self.cond.notify_all()
        except Exception:  # noqa: BLE001 - the connection closed
            pass

    def wait_for(self, test: Callable[[dict], bool], timeout: float = 60) -> dict:
        with self.cond:
            assert self.cond.wait_for(lambda: any(test(m) for m in self.messages), timeout), (
                f"no such message among {[m['type'] for m in self.messages][-20:]}")
            return next(m for m in self.messages if test(m))

    def of(self, kind: str) -> list[dict]:
        with self.cond:
            return [m for m in self.messages if m["type"] == kind]

    def close(self) -> None:
        self.stack.close()

    def __enter__(self) -> "Live":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
