"""Pages from other origins (`dcgan serve --allow-origin`): seed 000's React page, served by its own dev server,
calls our real server with CORS. Only the origins named are let in; the token, host and size checks still apply to
them, and without the option every other origin is refused exactly as before."""

from __future__ import annotations

import json
import signal

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import HANG_S, run_cli
from dcgan.cli import main
from dcgan.config import TrainConfig
from dcgan.server import create_app
from dcgan.server.security import loopback_hosts

from .conftest import TINY, serving, wait_status
from .test_security import serve

PAGE = "http://localhost:5173"  # seed 000's Vite dev server
OTHER = "http://localhost:3000"


def preflight(http: httpx.Client, path: str, origin: str, method: str = "POST",
              headers: str = "content-type") -> httpx.Response:
    """What a browser asks before a JSON POST from another origin: no body, no credentials."""
    return http.options(path, headers={"origin": origin, "access-control-request-method": method,
                                       "access-control-request-headers": headers})


def ws_url(server, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


@pytest.fixture(scope="module")
def allowing(fashion, tmp_path_factory):
    """A loopback server as `dcgan serve --allow-origin http://localhost:5173` makes it."""
    runs = tmp_path_factory.mktemp("allowing-runs")
    app = create_app(runs, allowed_hosts=loopback_hosts(), allowed_origins=[PAGE + "/"], heartbeat_s=0.5)
    app.state.manager.use_data(TrainConfig(**TINY), fashion)
    with serving(app, runs) as running:
        yield running


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """The same with a token, as on a shared machine."""
    runs = tmp_path_factory.mktemp("guarded-runs")
    app = create_app(runs, token="s3cret", allowed_hosts=loopback_hosts(), allowed_origins=[PAGE])
    with serving(app, runs) as running:
        yield running


def test_a_preflight_from_the_allowed_origin_is_answered_without_reaching_a_route(allowing):
    with allowing.client() as http:
        answer = preflight(http, "/start_training", PAGE, headers="content-type, authorization")
        assert answer.status_code == 200 and answer.text == "OK"  # CORS answered it, not the route (405)
        assert answer.headers["access-control-allow-origin"] == PAGE
        api_methods = {m.upper() for path in http.get("/openapi.json").json()["paths"].values() for m in path}
        assert api_methods <= set(answer.headers["access-control-allow-methods"].split(", ")), api_methods
        assert {"Authorization", "Content-Type"} <= set(answer.headers["access-control-allow-headers"].split(", "))
        assert "access-control-allow-credentials" not in answer.headers  # the token travels as a header
        assert http.get("/status").json()["is_training"] is False and not list(allowing.runs.iterdir())
        assert preflight(http, "/start_training", PAGE, headers="x-anything").status_code == 400


def test_the_allowed_page_drives_seed_000s_api_and_reads_the_answers(allowing):
    page = {"origin": PAGE}
    with allowing.client() as http:
        started = http.post("/start_training", json={**TINY, "steps": 100000}, headers=page)
        assert started.status_code == 200, started.text
        assert started.headers["access-control-allow-origin"] == PAGE and "Origin" in started.headers["vary"]
        wait_status(http, lambda s: s["state"] == "running")
        stopped = http.post("/stop_training", headers=page)
        assert stopped.status_code == 200 and stopped.json()["success"]
        assert stopped.headers["access-control-allow-origin"] == PAGE
        status = http.get("/status", headers=page)
        assert not status.json()["is_training"] and status.headers["access-control-allow-origin"] == PAGE


def test_other_origins_are_refused_naming_the_option_and_get_no_cors_headers(allowing, caplog):
    other = {"origin": OTHER}
    with allowing.client() as http:
        before = http.get("/api/status").json()
        for answer in (http.post("/stop_training", headers=other), preflight(http, "/stop_training", OTHER),
                       http.post("/api/training/start", json={"config": {**TINY, "steps": 2}}, headers=other)):
            assert answer.status_code == 403, answer.text
            assert f"dcgan serve --allow-origin {OTHER}" in answer.json()["detail"]
            assert "access-control-allow-origin" not in answer.headers
        read = http.get("/status", headers=other)  # answered, but the browser keeps it from that page
        assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
        after = http.get("/api/status").json()
        assert (after["state"], after["run"]) == (before["state"], before["run"])  # nothing started or stopped
    hints = [r.message for r in caplog.records if r.name == "dcgan.server" and OTHER in r.message]
    assert len(hints) == 1 and f"dcgan serve --allow-origin {OTHER}" in hints[0]  # once, where the user looks


def test_the_live_feeds_accept_the_allowed_origin_only(allowing):
    for path in ("/ws", "/api/live"):
        with connect(ws_url(allowing, path), origin=PAGE) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] in ("connected", "hello")
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(allowing, path), origin=OTHER)
        assert refused.value.response.status_code == 403


def test_the_token_host_and_size_checks_still_apply_to_the_allowed_origin(guarded):
    page, token = {"origin": PAGE}, {"authorization": "Bearer s3cret"}
    with guarded.client() as http:
        assert preflight(http, "/stop_training", PAGE, headers="authorization").status_code == 200  # no token
        refused = http.post("/stop_training", headers=page)
        assert refused.status_code == 401 and "access token" in refused.json()["detail"]
        assert refused.headers["access-control-allow-origin"] == PAGE  # the page can read why
        answered = http.post("/stop_training", headers={**page, **token})
        assert answered.status_code == 409 and answered.headers["access-control-allow-origin"] == PAGE
        assert http.get("/status", headers={**page, **token, "host": "evil.example"}).status_code == 403
        assert preflight(http, "/stop_training", PAGE, headers="authorization").status_code == 200
        rebound = http.options("/status", headers={**page, "access-control-request-method": "GET",
                                                   "host": "evil.example"})
        assert rebound.status_code == 403 and "access-control-allow-origin" not in rebound.headers
        huge = http.post("/load_model", json={"path": "x" * 100_000}, headers={**page, **token})
        assert huge.status_code == 413 and huge.headers["access-control-allow-origin"] == PAGE
    with pytest.raises(InvalidStatus) as refused_ws:
        connect(ws_url(guarded, "/ws"), origin=PAGE)
    assert refused_ws.value.response.status_code == 403  # a refused handshake is a 403, whatever the reason
    with connect(ws_url(guarded, "/ws"), origin=PAGE, additional_headers=token) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "connected"


def test_without_the_option_other_origins_are_refused_as_before(api):
    answer = preflight(api, "/stop_training", PAGE)
    assert answer.status_code == 403 and "access-control-allow-origin" not in answer.headers
    assert f"dcgan serve --allow-origin {PAGE}" in answer.json()["detail"]
    assert "access-control-allow-origin" not in api.get("/status", headers={"origin": PAGE}).headers
    opaque = api.post("/stop_training", headers={"origin": "null"})  # a sandboxed or file:// page: any site's
    assert opaque.status_code == 403 and "--allow-origin" not in opaque.json()["detail"]


def test_serve_prints_the_allowed_origins_and_answers_them(tmp_path):
    process, url, lines = serve(tmp_path, "--allow-origin", "HTTP://LocalHost:5173/", "--allow-origin",
                                "https://example.org:443")
    try:
        process.stdout.readline()  # the next line: runs folder and docs
        printed = process.stdout.readline()
        assert printed.strip() == "pages allowed from other origins: http://localhost:5173, https://example.org"
        with httpx.Client(base_url=url, timeout=60) as http:
            for origin in (PAGE, "https://example.org"):
                assert preflight(http, "/stop_training", origin).headers["access-control-allow-origin"] == origin
            assert preflight(http, "/stop_training", OTHER).status_code == 403
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(HANG_S)


def test_a_wildcard_origin_is_refused_in_one_line():
    result = run_cli("serve", "--port", "0", "--allow-origin", "*", timeout=HANG_S)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--allow-origin '*': a wildcard would let web pages nobody named drive this server" in result.stderr
    assert result.stdout == ""  # refused before anything listens


@pytest.mark.parametrize("origin,words", [
    ("http://*.example.org", "a wildcard"),
    ("localhost:5173", "an origin is http:// or https://"),
    ("http://localhost:5173/app", "without a path"),
    ("file://", "an origin is http:// or https://"),
    ("null", "an origin is http:// or https://"),
    ("http://localhost:0", "an origin is http:// or https://"),
])
def test_other_bad_origins_are_one_line(origin, words, capsys):
    assert main(["serve", "--port", "0", "--allow-origin", origin]) == 2  # the CLI's own entry, in this process
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and f"--allow-origin {origin!r}" in error and words in error
