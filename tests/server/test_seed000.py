"""Seed 000's documented API on our server (issue 16): a client written from the "DCGAN Interactive Demo"
description (its REST endpoints and its WebSocket) drives a real `dcgan serve` app on real Fashion-MNIST."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import io
import json
import math
import shutil
import time

import httpx
import pytest
from PIL import Image
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from dcgan.checkpoint import load_checkpoint
from dcgan.config import TrainConfig
from dcgan.server import create_app
from dcgan.server.seed000 import Feed, auto_device
from dcgan.server.security import loopback_hosts

from .conftest import TINY, Live, serving

SEED_PATHS = {"/status", "/metrics", "/start_training", "/stop_training", "/generate", "/save_model", "/load_model",
              "/ws"}


class SeedClient:
    """What seed 000's page does, endpoint by endpoint (its README's "API Endpoints"), with JSON bodies."""

    def __init__(self, http: httpx.Client):
        self.http = http

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = self.http.request(method, path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def status(self) -> dict:
        return self.call("GET", "/status")

    def metrics(self) -> dict:
        return self.call("GET", "/metrics")

    def start_training(self, **form) -> dict:
        return self.call("POST", "/start_training", form)

    def stop_training(self) -> dict:
        return self.call("POST", "/stop_training")

    def generate(self, num_images: int, **extra) -> dict:
        return self.call("POST", "/generate", {"num_images": num_images, **extra})

    def save_model(self) -> dict:
        return self.call("POST", "/save_model")

    def load_model(self, path: str | None = None) -> dict:
        return self.call("POST", "/load_model", {"path": path} if path is not None else None)

    def wait(self, test, timeout: float = 60) -> dict:
        """Poll /status as seed 000's page does until `test` holds."""
        deadline = time.monotonic() + timeout
        while not test(status := self.status()):
            assert time.monotonic() < deadline, f"status never matched: {status}"
            time.sleep(0.05)
        return status

    def train(self, steps: int, **form) -> str:
        """A short run trained to its end; returns its name."""
        run = self.start_training(**{**TINY, "steps": steps, **form})["run"]
        self.wait(lambda s: not s["is_training"])
        return run


@pytest.fixture
def seed(api):
    return SeedClient(api)


def png(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data.removeprefix("data:image/png;base64,"))))
    assert image.format == "PNG"
    return image


# --- REST --------------------------------------------------------------------------------------------------------

def test_root_answers_json_to_an_api_client_and_the_page_to_a_browser(api):
    info = api.get("/", headers={"accept": "application/json"})
    assert info.headers["content-type"] == "application/json"
    assert set(info.json()["endpoints"]) == SEED_PATHS and info.json()["docs"] == "/docs"
    browser = api.get("/", headers={"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html") and "<html" in browser.text
    assert api.get("/").headers["content-type"].startswith("text/html")  # no preference: the page
    paths = api.get("/openapi.json").json()["paths"]
    for path in SEED_PATHS - {"/ws"} | {"/"}:
        operation = next(iter(paths[path].values()))
        assert operation["tags"] == ["seed 000 compatibility"], path


def test_status_reports_training_device_epoch_step_and_progress(seed):
    started = seed.start_training(**TINY, steps=100000)
    assert started["success"] and started["status"]["is_training"]
    status = seed.wait(lambda s: s["step"] >= 3)
    assert status["is_training"] and status["device"] == "cpu" and status["run"] == started["run"]
    assert status["total_steps"] == 100000 and status["current_epoch"] == 0
    assert status["total_epochs"] == math.ceil(100000 / (60000 // 32))
    assert status["progress"] == pytest.approx(status["step"] / 100000)
    stopped = seed.stop_training()
    assert stopped["success"] and stopped["status"]["state"] == "stopped" and not stopped["status"]["is_training"]
    assert stopped["message"] == f"stopped at step {stopped['status']['step']:,}"
    assert seed.http.post("/stop_training").status_code == 409  # nothing left to stop


def test_start_training_takes_seed_000s_form(seed):
    form = {"dataset": "fashion_mnist", "epochs": 1, "batch_size": 64, "learning_rate": 0.0002, "device": "cpu"}
    started = seed.start_training(**form)
    assert started["config"] == {**form, "dataset": "fashion-mnist", "steps": None}
    assert started["status"]["total_steps"] == 60000 // 64 and started["status"]["total_epochs"] == 1
    assert seed.http.post("/start_training", json=form).status_code == 409  # one training at a time
    seed.stop_training()


def test_omitted_fields_take_our_defaults(seed):
    config = seed.start_training()["config"]  # an empty form: every field our default, the length too
    ours = TrainConfig.from_dict({}).resolved()  # what our own start would train
    assert config["dataset"] == ours.dataset and config["batch_size"] == ours.batch_size
    assert config["learning_rate"] == ours.lr and config["device"] == auto_device()
    assert config["epochs"] == ours.epochs == 5 and config["steps"] is None  # the length trained, not "unset"
    seed.stop_training()


@pytest.mark.parametrize("body, field", [
    ({"learning_rate": -1}, "learning_rate"),
    ({"batch_size": 0}, "batch_size"),
    ({"epochs": "ten"}, "epochs"),
    ({"device": "tpu"}, "device"),
    ({"dataset": "imagenet"}, "dataset"),
    ({"bogus": 1}, "bogus"),
    ({"learning_rate": 0.001, "lr": 0.001}, "learning_rate"),
])
def test_bad_training_values_answer_one_clear_422(api, server, body, field):
    response = api.post("/start_training", json=body)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == field
    assert field in response.json()["detail"] and "\n" not in response.json()["detail"]
    assert not server.manager.busy


def test_malformed_and_oversized_bodies(api):
    bad = api.post("/start_training", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 422 and "not valid JSON" in bad.json()["detail"]
    huge = api.post("/load_model", json={"path": "x" * 100_000})
    assert huge.status_code == 413


def test_metrics_are_the_runs_curves_as_lists(seed):
    run = seed.train(steps=12)
    metrics = seed.metrics()
    assert metrics["run"] == run and metrics["steps"] == list(range(1, 13))
    for name in ("g_losses", "d_losses", "real_scores", "fake_scores"):
        assert len(metrics[name]) == 12 and all(math.isfinite(v) for v in metrics[name])
    assert all(0 < v < 1 for v in metrics["real_scores"] + metrics["fake_scores"])  # D's probabilities
    native = seed.http.get(f"/api/runs/{run}/metrics").json()["series"]
    assert metrics["d_losses"] == pytest.approx(native["loss/D"])


def test_save_while_training_writes_a_checkpoint_now(seed, server):
    run = seed.start_training(**TINY, steps=100000)["run"]
    seed.wait(lambda s: s["step"] >= 3)
    early = seed.http.post("/generate", json={"num_images": 1})  # no checkpoint yet (one every 1000 steps)
    assert early.status_code == 409 and "POST /save_model" in early.json()["detail"]
    saved = seed.save_model()
    assert saved["success"] and saved["written"] and saved["run"] == run and saved["step"] >= 3
    assert saved["path"] == f"{run}/checkpoints/step-{saved['step']:07d}.pt"  # inside the runs folder
    assert load_checkpoint(server.runs / saved["path"])["step"] == saved["step"]
    assert seed.status()["is_training"]  # training goes on
    made = seed.generate(2)  # from the checkpoint just written
    assert made["path"] == saved["path"] and made["step"] == saved["step"]


def test_save_after_training_names_the_final_checkpoint(seed, server):
    run = seed.train(steps=10)
    saved = seed.save_model()
    assert saved["success"] and not saved["written"] and saved["run"] == run and saved["step"] == 10
    assert saved["path"] == f"{run}/checkpoints/step-0000010.pt" and (server.runs / saved["path"]).is_file()


def test_load_and_generate(seed, server):
    first = seed.train(steps=6)
    second = seed.train(steps=8)
    loaded = seed.load_model(first)
    assert loaded["run"] == first and loaded["step"] == 6 and loaded["path"] == f"{first}/checkpoints/step-0000006.pt"
    assert seed.metrics()["run"] == first and len(seed.metrics()["g_losses"]) == 6  # the loaded run's curves

    made = seed.generate(4, seed=3)
    assert made["success"] and made["num_images"] == 4 and made["run"] == first and made["step"] == 6
    assert len(made["images"]) == 4 and all(url.startswith("data:image/png;base64,") for url in made["images"])
    assert {png(url).size for url in made["images"]} == {(28, 28)}
    assert png(made["image"]).size == (2 + 2 * 30, 2 + 2 * 30)  # the 2x2 grid seed 000's page shows
    assert seed.generate(4, seed=3)["images"] == made["images"]  # a seed repeats its images
    assert seed.generate(4, seed=4)["images"] != made["images"]

    # Every way to name a saved model inside the runs folder.
    for path in (f"{second}/checkpoints/step-0000008.pt", f"{second}/step-0000008.pt",
                 f"{server.runs.name}/{second}", str(server.runs / second / "checkpoints" / "step-0000008.pt")):
        assert seed.load_model(path)["step"] == 8, path
    export = seed.load_model(f"{first}/generator.safetensors")
    assert export["checkpoint"] == "generator.safetensors" and seed.generate(1)["step"] == 6
    assert seed.load_model()["run"] == second  # no path: the model saved last
    assert seed.save_model()["path"] == f"{second}/checkpoints/step-0000008.pt"  # the loaded model is saved

    third = seed.train(steps=5)  # a new training: its model is the one generate draws from
    assert seed.generate(2)["run"] == third


def test_load_refuses_paths_outside_the_runs_folder(seed, server, tmp_path):
    run = seed.train(steps=4)
    for path in ("../etc", "/etc/passwd", f"{run}/../../etc", f"{run}/config.json", f"{run}/checkpoints/../x.pt",
                 f"{run}/a/b/c"):
        response = seed.http.post("/load_model", json={"path": path})
        assert response.status_code == 422 and "\n" not in response.json()["detail"], path
    assert seed.http.post("/load_model", json={"path": "no-such-run"}).status_code == 404
    assert seed.http.post("/load_model", json={"path": f"{run}/step-0000099.pt"}).status_code == 404

    outside = tmp_path / "outside"
    shutil.copytree(server.runs / run, outside)
    linked_run = server.runs / "linked-out"
    linked_checkpoint = server.runs / run / "checkpoints" / "step-0000099.pt"
    try:
        linked_run.symlink_to(outside, target_is_directory=True)
        linked_checkpoint.symlink_to(outside / "checkpoints" / "step-0000004.pt")
        # A path that names a link out is the client's bad path (422); a link inside a run is the run folder's
        # fault (409, as for every file of a run read through dcgan.rundir.inside).
        for path, status in (("linked-out", 422), (f"{run}/checkpoints/step-0000099.pt", 409)):
            response = seed.http.post("/load_model", json={"path": path})
            assert response.status_code == status and "outside" in response.json()["detail"], path
    finally:
        linked_run.unlink(missing_ok=True)
        linked_checkpoint.unlink(missing_ok=True)


def test_generate_is_bounded(api):
    for body in ({"num_images": 0}, {"num_images": 65}, {"num_images": 4, "extra": 1}, {"num_images": 4, "seed": -1}):
        response = api.post("/generate", json=body)
        assert response.status_code == 422 and response.json()["detail"], body


def test_without_any_model_save_load_and_generate_say_what_to_do(tmp_path):
    with serving(create_app(tmp_path / "runs"), tmp_path / "runs") as empty, empty.client() as http:
        for path in ("/generate", "/save_model"):
            response = http.post(path)
            assert response.status_code == 409 and "POST /start_training" in response.json()["detail"]
        missing = http.post("/load_model")
        assert missing.status_code == 404 and "no saved model" in missing.json()["detail"]
        assert http.get("/metrics").json()["g_losses"] == []
        assert http.get("/status").json()["is_training"] is False


# --- WebSocket ---------------------------------------------------------------------------------------------------

@pytest.fixture
def small_folder(fashion, tmp_path):
    """64 real Fashion-MNIST images as PNG files in ./data (a data root of the server): an epoch is two steps of
    32."""
    folder = tmp_path / "data" / "fashion-64"
    folder.mkdir(parents=True)
    for i in range(64):
        Image.fromarray(fashion.images[i, 0].numpy()).save(folder / f"{i:02d}.png")
    return folder


def test_ws_sends_seed_000s_live_updates(seed, server, small_folder):
    with Live(server.url.replace("http://", "ws://") + "/ws") as live:
        assert live.wait_for(lambda m: True)["type"] == "connected"  # the first message
        assert seed.http.get("/api/status").json()["clients"] >= 1  # a client of the same hub as /api/live
        run = seed.start_training(**{**TINY, "dataset": f"folder:{small_folder}", "image_size": 28, "channels": 1,
                                     "sample_every": 1000, "steps": None, "epochs": 3})["run"]
        done = live.wait_for(lambda m: m["type"] == "training_complete")
        assert done["status"]["state"] == "finished" and not done["status"]["is_training"]
        live.wait_for(lambda m: m["type"] == "heartbeat")

    # A new run starts over from a fresh `connected`; what happened before it was sent is in its all_metrics.
    fresh = max(i for i, m in enumerate(live.messages) if m["type"] == "connected" and m["status"]["run"] == run)
    folded, after = live.messages[fresh]["all_metrics"]["steps"], live.messages[fresh + 1:]
    batches = [m for m in after if m["type"] == "batch_update"]
    assert folded + [b["step"] for b in batches] == list(range(1, 7))  # every step once, in order
    for b in batches:
        assert (b["epoch"], b["batch"], b["total_batches"]) == ((b["step"] - 1) // 2, (b["step"] - 1) % 2, 2)
        assert set(b["metrics"]) == {"loss_d", "loss_g", "real_score", "fake_score"}
        assert all(isinstance(v, float) for v in b["metrics"].values())

    epochs = [m for m in after if m["type"] == "epoch_complete"]
    ends = [(e["epoch"], e["step"]) for e in epochs]
    assert {(k, 2 * k + 2) for k in range(3) if 2 * k + 2 > max(folded, default=0)} <= set(ends)
    assert ends == sorted(ends) and set(ends) <= {(0, 2), (1, 4), (2, 6)}
    for e in epochs:
        curves = e["all_metrics"]
        assert curves["steps"] == list(range(1, e["step"] + 1))
        in_epoch = [v for step, v in zip(curves["steps"], curves["d_losses"]) if e["step"] - 2 < step <= e["step"]]
        assert e["metrics"]["d_loss"] == pytest.approx(sum(in_epoch) / 2)  # the epoch's mean, as seed 000's
        assert png(e["sample_image"]).size == (2 + 4 * 30, 2 + 4 * 30)  # the 16-image fixed-noise grid
        later = [i for i, m in enumerate(after) if m["type"] == "batch_update" and m["step"] == e["step"] + 1]
        assert all(after.index(e) < i for i in later)  # in the order it happened
    for b in batches:  # the same numbers as the curves
        assert b["metrics"]["loss_d"] == pytest.approx(epochs[-1]["all_metrics"]["d_losses"][b["step"] - 1])

    assert any(m["type"] == "sample" and m["step"] == 6 and png(m["image"]) for m in after)
    log = [line for m in live.of("connected") for line in m["log"]] + live.of("log")
    assert any("device: cpu" in line["message"] for line in log)
    assert live.of("checkpoint")[-1]["path"] == f"{run}/checkpoints/step-0000006.pt"
    assert live.of("status")[-1]["status"]["state"] == "finished"


def test_ws_reports_a_failed_training_as_error_then_complete():
    def status(state: str, message: str = "") -> str:
        return json.dumps({"type": "status", "status": {"state": state, "run": "r", "message": message,
                                                        "device": "cpu"}})

    async def scenario():
        feed = Feed(layer=None)
        await feed.translate(status("running"))
        return [m.model_dump() for m in await feed.translate(status("failed", "CUDA out of memory"))]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own loop: a browser test may run one here
        messages = pool.submit(asyncio.run, scenario()).result()
    assert [m["type"] for m in messages] == ["status", "error", "training_complete"]
    assert "CUDA out of memory" in messages[1]["message"] and not messages[2]["status"]["is_training"]


# --- The same access rules as the rest of the server -------------------------------------------------------------

@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A server as `dcgan serve --host` makes it: a token, and only its own host names."""
    runs = tmp_path_factory.mktemp("guarded-runs")
    with serving(create_app(runs, token="s3cret", allowed_hosts=loopback_hosts()), runs) as running:
        yield running


def test_new_routes_and_ws_refuse_other_sites(api, server):
    cross_site = api.post("/start_training", json={}, headers={"origin": "http://evil.example"})
    assert cross_site.status_code == 403 and not server.manager.busy
    with pytest.raises(InvalidStatus) as refused:
        connect(server.url.replace("http://", "ws://") + "/ws", origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_new_routes_and_ws_need_the_token_and_a_loopback_host(guarded):
    token = {"authorization": "Bearer s3cret"}
    with guarded.client() as http:
        assert http.get("/status").status_code == 401
        assert http.get("/", headers={"accept": "application/json"}).status_code == 401
        assert http.post("/generate", json={"num_images": 1}).status_code == 401
        assert http.get("/status", headers=token).json()["is_training"] is False
        rebound = http.get("/status", headers={**token, "host": "evil.example"})
        assert rebound.status_code == 403  # DNS rebinding: a foreign host name is refused, token or not
    url = guarded.url.replace("http://", "ws://") + "/ws"
    with pytest.raises(InvalidStatus):
        connect(url)
    with connect(url, additional_headers=token) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "connected"
