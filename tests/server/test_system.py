"""System endpoints and `dcgan serve` itself (issue 3): devices, offline datasets, the config schema the form is
built from, the printed URL on loopback, and errors as JSON."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from websockets.sync.client import connect

from dcgan.config import MAIN_GROUPS, schema
from dcgan.datasets import DATASETS, data_home
from dcgan.export import FORMATS
from dcgan.latent import INTERPOLATORS
from dcgan.losses import LOSSES
from dcgan.control import FORK_FIXED, LIVE_FIELDS
from dcgan.vocabulary import STEP_METRICS


def test_devices_and_datasets_offline(api):
    devices = api.get("/api/system/devices").json()["devices"]
    assert devices[-1]["device"] == "cpu"
    body = api.get("/api/system/datasets").json()
    datasets = {d["name"]: d for d in body["datasets"]}
    assert list(datasets) == list(DATASETS)  # the registry, in its order
    assert datasets["fashion-mnist"]["path"] is not None  # Debian's copy, found without a download
    assert datasets["mnist"]["path"] == str(data_home() / "MNIST") and body["data_home"] == str(data_home())
    assert datasets["fashion-mnist"]["class_names"][7] == "Sneaker" and datasets["celeba"]["class_names"] == []
    assert datasets["cifar10"]["image_size"] == 32 and datasets["cifar10"]["channels"] == 3
    # The shipped domain classifiers (evaluation, attribute directions): MNIST and Fashion-MNIST only.
    assert [n for n, d in datasets.items() if d["classifier"]] == ["mnist", "fashion-mnist"]


def test_config_schema_is_the_trainers(api):
    body = api.get("/api/config/schema").json()
    assert [f["name"] for f in body["fields"]] == [row["name"] for row in schema()]
    batch = next(f for f in body["fields"] if f["name"] == "batch_size")
    assert batch["type"] == "int" and batch["default"] == 16 and batch["ge"] == 1 and batch["group"] == "optim"
    assert "cpu-fast" in body["presets"]


def test_config_schema_carries_what_the_page_would_otherwise_copy(api):
    """The page's live-change editor, fork dialog and form layout read these lists from the server (app.js keeps
    no copy), so they are the library's own."""
    body = api.get("/api/config/schema").json()
    assert body["live_fields"] == list(LIVE_FIELDS) and body["fork_fixed"] == list(FORK_FIXED)
    assert "g_width" in body["fork_fixed"] and "lr_d" in body["live_fields"]
    assert body["main_groups"] == list(MAIN_GROUPS) and body["launcher_options"] == ["world_size"]
    groups = [f["group"] for f in body["fields"]]
    assert set(body["main_groups"]) < set(groups)  # real groups, and some start folded
    names = [f["name"] for f in body["fields"]]
    assert set(body["live_fields"] + body["fork_fixed"] + body["launcher_options"]) <= set(names)
    # The metrics' names and labels: the curves' legends and the single-step result read them.
    labels = {m["name"]: m["label"] for m in body["metrics"]}
    assert labels == {name: m.label for name, m in STEP_METRICS.items()} and labels["D/real"] == "D(x)"
    # The objectives: the Discriminator chart calls D(x) a probability only where the objective makes it one, and
    # draws the Wasserstein estimate where the critic logs it.
    losses = {o["name"]: o for o in body["losses"]}
    assert list(losses) == list(LOSSES) == next(f for f in body["fields"] if f["name"] == "loss")["choices"]
    assert {n for n, o in losses.items() if o["probabilities"]} == {"nonsaturating", "minimax"}
    assert {n for n, o in losses.items() if o["gradient_penalty"]} == {"wgan-gp"}
    # The drawing routes' choices with their labels, each route's default first: the Generate tab's interpolation
    # modes and the export's formats.
    modes = {c["name"]: c["label"] for c in body["interpolation_modes"]}
    formats = {c["name"]: c["label"] for c in body["export_formats"]}
    assert list(modes)[0] == "slerp" and set(modes) == set(INTERPOLATORS) and "spherical" in modes["slerp"]
    assert list(formats)[0] == "page" and set(formats) == set(FORMATS) and formats["onnx"] == "ONNX"


def test_resolve_and_architecture_of_a_config(api):
    answer = api.post("/api/config/resolve", json={"config": {"dataset": "cifar10"}}).json()
    resolved = answer["config"]
    assert resolved["image_size"] == 32 and resolved["channels"] == 3 and resolved["seed"] is not None
    # The length in steps, for one process: 50,000 CIFAR-10 images in batches of 16 (the defaults) a step.
    assert answer["steps_per_epoch"] == 50000 // resolved["batch_size"] == 3125
    assert answer["total_steps"] == resolved["epochs"] * 3125
    by_steps = api.post("/api/config/resolve", json={"config": {"dataset": "folder:/x", "steps": 500}}).json()
    assert (by_steps["steps_per_epoch"], by_steps["total_steps"]) == (None, 500)  # a folder's size is not known
    arch = api.post("/api/config/architecture", json={"config": {"g_width": 8, "d_width": 8}}).json()
    assert arch["generator"]["layers"][-1]["output_shape"] == [1, 28, 28]
    bad = api.post("/api/config/resolve", json={"config": {"image_size": 30}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "image_size"


def test_unknown_paths_and_methods_answer_json(api):
    missing = api.get("/api/nothing")
    assert missing.status_code == 404 and "/docs" in missing.json()["detail"]
    wrong = api.delete("/api/status")
    assert wrong.status_code == 405 and wrong.json()["detail"]


@pytest.mark.parametrize("body,why", [
    (b"[" * 5000 + b"]" * 5000, "it is nested too deeply"),
    (b'{"config": {"steps": ' + b"9" * 5000 + b"}}", "a number in it has too many digits"),
    (b'{"config": {"dataset": "\xff"}}', "it is not UTF-8 text"),
])
def test_a_body_that_cannot_be_read_is_one_clear_line(api, body, why):
    response = api.post("/api/config/resolve", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"the body is not valid JSON ({why}); send a JSON object as /docs shows"
    assert response.json()["errors"][0]["loc"] == ["body"]


def test_oversized_bodies_are_refused(api):
    response = api.post("/api/config/resolve", json={"config": {"dataset": "x" * 100_000}})
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


def test_serve_prints_its_url_binds_loopback_and_refuses_other_hosts(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "dcgan", "serve", "--port", "0", "--runs-dir",
                                str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env)
    try:
        line = process.stdout.readline()
        match = re.match(r"dcgan dashboard: (http://127\.0\.0\.1:(\d+)/)$", line.strip())
        assert match, line
        url = match.group(1)
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/api/status").json()["state"] == "idle"
            assert client.get("/").headers["content-type"].startswith("text/html")
            assert client.get("/docs").status_code == 200
            evil = client.get("/api/status", headers={"host": "evil.example:80"})
            assert evil.status_code == 403  # DNS rebinding: only loopback names are served
            cross_site = client.post("/api/training/stop", headers={"origin": "http://evil.example"})
            assert cross_site.status_code == 403
            # A request's line and headers are bounded: a giant header is cut off, not read into memory.
            with socket.create_connection(("127.0.0.1", int(match.group(2)))) as sock, pytest.raises(OSError):
                sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 64 * 2**20)
            assert client.get("/api/status").json()["state"] == "idle"
        with connect(url.replace("http://", "ws://") + "api/live") as live:
            assert json.loads(live.recv())["type"] == "hello"
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_non_loopback_host_requires_a_token(tmp_path):
    from dcgan.server import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app(tmp_path, token="s3cret")) as client:
        assert client.get("/api/status").status_code == 401
        assert client.get("/api/status", headers={"authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/api/status", params={"token": "wrong"}).status_code == 401
