"""The server under abuse (issue 18): each reproduction of the issue against the real server, now refused with one
clear line. Resources are budgeted before anything is built, data stays inside the data roots, no link leads a
read or a write out of a run folder, one bad run never breaks the list, and the token travels only where it must."""

from __future__ import annotations

import json
import logging
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from blocked_imports import env_without
from conftest import HANG_S, read_dashboard_url, run_cli, until
from dcgan import budget
from dcgan.config import TrainConfig
from dcgan.rundir import RunLock
from dcgan.sampling import load_generator
from dcgan.server import create_app
from dcgan.server.dataroots import DataRoots

from .conftest import TINY, Live, finish, serving, wait_idle

HUGE = dict(g_width=1024, d_width=1024, latent_dim=4096, image_size=256)  # each value inside its allowed range


@pytest.fixture
def small_budget(server, monkeypatch):
    """The server's memory budget at 4 GiB, whatever this machine has."""
    monkeypatch.setattr(server.app.state.settings, "memory_budget", 4 * 2**30)
    monkeypatch.setattr(server.app.state.store, "memory_budget", 4 * 2**30)


@pytest.fixture(scope="module")
def done(server):
    """A finished run to plant links in."""
    with server.client() as client:
        return finish(client, steps=6, name="links")


def refusal(response, status: int, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert "\n" not in detail and "Traceback" not in detail
    if field is not None:
        assert response.json()["errors"][0]["field"] == field
    return detail


# --- Resources ------------------------------------------------------------------------------------------------

def test_an_oversized_model_is_refused_before_it_is_built(api, small_budget):
    api.post("/api/config/architecture", json={"config": {}})  # the meta kernels are loaded once per process
    started = time.perf_counter()
    response = api.post("/api/config/architecture", json={"config": HUGE})
    seconds = time.perf_counter() - started
    detail = refusal(response, 422, "g_width")
    assert "more than the budget of 4.0 GiB" in detail and detail.endswith("lower g_width")
    print(f"oversized model (6.2B parameters) refused in {seconds * 1000:.0f} ms")
    for path in ("/api/training/start", "/api/config/architecture"):
        assert api.post(path, json={"config": {**HUGE, "steps": 5}}).status_code == 422
    assert api.get("/api/status").json()["state"] in ("idle", "finished", "stopped")


def test_a_huge_batch_is_refused_naming_batch_size(api, small_budget):
    refusal(api.post("/api/training/start", json={"config": {**TINY, "batch_size": 65536, "steps": 5}}), 422,
            "batch_size")


@pytest.mark.parametrize("path", ["/api/config/resolve", "/api/training/start"])
def test_a_length_in_epochs_is_held_to_the_bound_of_one_in_steps(api, path):
    """steps is at most 100,000,000; 100,000 epochs of Fashion-MNIST at batch 1 were 6,000,000,000 steps, accepted."""
    detail = refusal(api.post(path, json={"config": {**TINY, "epochs": 100_000, "batch_size": 1}}), 422, "epochs")
    assert "6,000,000,000 steps, more than the 100,000,000 a run may train; lower epochs to 1,666" in detail
    within = api.post("/api/config/resolve", json={"config": {**TINY, "epochs": 1_666, "batch_size": 1}})
    assert within.status_code == 200 and within.json()["total_steps"] == 99_960_000, within.text
    assert api.get("/api/status").json()["state"] not in ("starting", "running")


def test_processes_are_capped_by_the_machine(api):
    detail = refusal(api.post("/api/training/start", json={"config": {"world_size": 4096, "steps": 5}}), 422,
                     "world_size")
    assert f"than the {budget.machine_processes()} this machine has room for" in detail
    assert "dcgan serve --max-processes" in detail


def test_generation_goes_through_the_budget(api, done, server, monkeypatch):
    monkeypatch.setattr(server.app.state.store, "memory_budget", 1024)
    server.app.state.store._generators.clear()
    detail = refusal(api.get(f"/api/runs/{done}/generate.png", params={"seed": 1}), 422)
    assert "larger --memory-budget" in detail


def test_a_style_mixing_grid_is_held_to_the_budget_of_what_it_draws(api, done, server, monkeypatch):
    """A mixing grid runs each cell's A and B through G side by side: 16 x 16 cells hold the activations of 512
    images, twice what a generator's load is budgeted for. With a budget that holds exactly that load, the full grid is
    refused and a smaller one drawn."""
    store = server.app.state.store
    store._generators.clear()
    config = TrainConfig.from_dict(store.config(done)).resolved()
    file_bytes = store.checkpoint_file(done, None).stat().st_size
    monkeypatch.setattr(store, "memory_budget", budget.generator_cost(config, file_bytes).total)
    seeds = list(range(16))
    detail = refusal(api.get(f"/api/runs/{done}/mix.png", params={"rows": seeds, "cols": seeds, "block": 0}), 422)
    assert "ask for fewer rows or columns" in detail
    small = api.get(f"/api/runs/{done}/mix.png", params={"rows": seeds[:8], "cols": seeds[:8], "block": 0})
    assert small.status_code == 200, small.text


class AtOnce:
    """A context manager that counts the threads inside it now, and the most there were at once."""

    def __init__(self):
        self.now = self.most = 0
        self._lock = threading.Lock()

    def __enter__(self):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc):
        with self._lock:
            self.now -= 1


def test_generators_are_loaded_one_at_a_time(api, done, server, monkeypatch):
    """Requests that load a generator not in the cache (its info, its selection, style mixing's blocks, seed 000's
    /load_model) each hold their own copy while loading; they load one at a time, so together they cannot multiply
    the memory budget that each load is held to, and a checkpoint asked for by several is loaded once."""
    import dcgan.server.runs as runs

    loading, loads = AtOnce(), []

    def slow_load(path, device):
        with loading:
            time.sleep(0.2)
        loads.append(path.name)
        return load_generator(path, device=device)

    monkeypatch.setattr(runs, "load_generator", slow_load)
    server.app.state.store._generators.clear()
    requests = [("GET", f"/api/runs/{done}/generator", None), ("GET", f"/api/runs/{done}/mix/blocks", None),
                ("PUT", f"/api/runs/{done}/generator", {"checkpoint": None}),
                ("POST", "/load_model", {"path": done})] * 2
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda r: api.request(r[0], r[1], json=r[2]), requests))
    assert [a.status_code for a in answers] == [200] * len(requests), [a.text for a in answers]
    assert loading.most == 1 and loads and len(loads) == len(set(loads))  # one at a time, each checkpoint once


def test_a_comparison_answers_a_bounded_number_of_points(api, done):
    """16 runs of 20,000 points each were one 55 MB answer, built in ~300 MB of the server's memory."""
    detail = refusal(api.get("/api/compare/metrics", params={"runs": [done] * 16, "max_points": 20000}), 422,
                     "max_points")
    assert detail.endswith("ask for max_points 2500 or fewer runs")
    assert api.get("/api/compare/metrics", params={"runs": [done] * 16, "max_points": 2500}).status_code == 200


def test_metric_histories_are_read_two_at_a_time_and_a_long_queue_is_told_to_retry(api, done, server, monkeypatch):
    """Reading a run's history costs the length of its file in CPU time (a million logged steps: about a minute) and
    its answer in memory: the requests that read them (a run's metrics, a comparison, seed 000's /metrics, and the run
    list) take turns, two at a time, instead of each holding one of the server's worker threads."""
    store, reading = server.app.state.store, server.app.state.reading
    reads, release = AtOnce(), threading.Event()

    def slowly(read_them):
        def slow(*args, **kwargs):
            with reads:
                release.wait(60)
            return read_them(*args, **kwargs)
        return slow

    # The run list too: it reads every run's files and lists its checkpoints and grids (1,000 runs of 1,000 grids
    # each: a million folder entries a call).
    monkeypatch.setattr(store, "metrics", slowly(store.metrics))
    monkeypatch.setattr(store, "summaries", slowly(store.summaries))
    monkeypatch.setattr(reading, "most_waiting", 1)
    paths = [f"/api/runs/{done}/metrics", "/api/runs", f"/api/compare/metrics?runs={done}"]
    with ThreadPoolExecutor(len(paths)) as pool:
        answers = [pool.submit(lambda p: server.client().get(p), path) for path in paths]
        until(lambda: reads.now == 2 and reading.waiting == 1, "two reads and one waiting", 60)
        one_more = api.get(f"/api/compare/metrics?runs={done}")
        assert one_more.status_code == 429 and one_more.headers["retry-after"] == "5"
        assert "waiting to be read already" in refusal(one_more, 429)
        release.set()
        assert [a.result().status_code for a in answers] == [200] * len(paths)
    assert reads.most == 2


@pytest.mark.parametrize("query", ["fps=0.001", "fps=0", "fps=1000", "steps=100000", "count=100000"])
def test_numeric_query_parameters_are_bounded(api, done, query):
    path = "generate.png" if query.startswith("count") else "interpolate.gif"
    refusal(api.get(f"/api/runs/{done}/{path}?{query}"), 422)


@pytest.mark.parametrize("method, path, request_options, field", [
    ("POST", "arithmetic.png", {"json": {"a": [1], "b": [-1], "c": [0]}}, "b.0"),
    ("POST", "arithmetic.png", {"json": {"a": [1], "b": [2], "c": [3, 2**64]}}, "c.1"),
    ("GET", "mix.png", {"params": {"rows": [1], "cols": [2**64], "block": 0}}, "cols.0"),
    ("GET", "mix.png", {"params": {"rows": [-5], "cols": [1], "block": 0}}, "rows.0"),
    ("GET", "attribute.png", {"params": {"toward": "1", "seeds": [0, -1]}}, "seeds.1"),
])
def test_every_seed_of_a_list_is_bounded_and_named(api, done, method, path, request_options, field):
    """Seeds given in lists (arithmetic's groups, a mixing grid's rows and columns, an attribute's rows) are held to
    the seed range by the request's schema: they were refused only by the drawing, with a field the request does
    not have ('seeds', at body.config.seeds)."""
    response = api.request(method, f"/api/runs/{done}/{path}", **request_options)
    refusal(response, 422, field)
    assert response.json()["errors"][0]["loc"][0] == ("body" if method == "POST" else "query")


@pytest.mark.parametrize("path, body, loc", [
    ("/api/config/resolve", {"config": {"steps": -5}}, ["body", "config", "steps"]),
    ("/api/training/fork", {"run": "links", "changes": {"lr": -1}}, ["body", "changes", "lr"]),
    ("/api/training/resume", {"run": "links", "device": "meta"}, ["body", "device"]),
    ("/start_training", {"steps": -5}, ["body", "steps"]),
])
def test_a_refused_option_is_located_where_the_request_holds_it(api, done, path, body, loc):
    """A refusal's loc points into the request as sent: a fork's options are its changes, a resume's and seed 000's
    are at the top of the body (all were said to be in a 'config' the request does not have)."""
    response = api.post(path, json=body)
    refusal(response, 422, loc[-1])
    assert response.json()["errors"][0]["loc"] == loc


def test_a_slow_gif_is_drawn(api, done):
    response = api.get(f"/api/runs/{done}/interpolate.gif", params={"fps": 0.1, "steps": 2})
    assert response.status_code == 200 and response.content[:3] == b"GIF"


# --- Data roots -------------------------------------------------------------------------------------------------

def test_folders_outside_the_data_roots_get_one_answer_whether_or_not_they_exist(api, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("outside")  # not under this test's folder, where ./data is a root
    (tmp_path / "pics").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "pics" / "a.png")
    answers = set()
    for dataset in (f"folder:{tmp_path / 'pics'}", f"folder:{tmp_path / 'missing'}", "folder:/root",
                    "folder:data/../../"):
        answers.add(refusal(api.post("/api/training/start", json={"config": {**TINY, "dataset": dataset,
                                                                              "steps": 2}}), 422, "dataset"))
    assert len(answers) == 1 and str(tmp_path) not in answers.pop()
    detail = refusal(api.post("/api/training/start", json={"config": {**TINY, "data_dir": str(tmp_path),
                                                                      "steps": 2}}), 422, "data_dir")
    assert str(tmp_path) not in detail and not (tmp_path / ".dcgan-cache").exists()


def test_datasets_of_any_data_dir_are_looked_up_only_inside_the_roots(api, tmp_path):
    (tmp_path / "data").mkdir()  # ./data, a data root: a name too long inside it is a 422, not a 500
    for data_dir in ("x" * 400, "/etc", "data/" + "y" * 300):
        refusal(api.get("/api/system/datasets", params={"data_dir": data_dir}), 422, "data_dir")
    assert api.get("/api/system/datasets", params={"data_dir": "data/new"}).status_code == 200


def test_a_folder_inside_a_data_root_trains_and_a_link_out_of_it_does_not(api, server, tmp_path, monkeypatch):
    root, outside = tmp_path / "root", tmp_path / "outside"
    for folder in (root / "pics", outside):
        folder.mkdir(parents=True)
        for i in range(40):
            Image.new("RGB", (16, 16), (i * 6, 0, 0)).save(folder / f"{i}.png")
    (root / "out").symlink_to(outside)
    monkeypatch.setattr(server.manager, "data_roots", DataRoots([root]))
    options = {**TINY, "image_size": 16, "batch_size": 8, "data_dir": str(root)}
    refusal(api.post("/api/training/start", json={"config": {**options, "dataset": f"folder:{root / 'out'}",
                                                             "steps": 2}}), 422, "dataset")
    started = api.post("/api/training/start", json={"config": {**options, "dataset": f"folder:{root / 'pics'}",
                                                               "steps": 2}})
    assert started.status_code == 202, started.text
    wait_idle(api)
    assert api.get("/api/status").json()["state"] == "finished"


def test_a_named_dataset_is_not_downloaded_unless_the_server_allows_it(api):
    detail = refusal(api.post("/api/training/start", json={"config": {**TINY, "dataset": "cifar10",
                                                                      "steps": 2}}), 422, "dataset")
    assert "does not download" in detail and "--allow-downloads" in detail


def test_errors_name_no_paths_outside_the_folders_the_server_serves(server):
    scrub = server.manager.scrub
    assert scrub("cannot read /home/someone/secret.png (denied)") == "cannot read <path> (denied)"
    inside_runs = f"{server.runs}/x/checkpoints/step-0000001.pt is damaged"
    assert scrub(inside_runs) == "x/checkpoints/step-0000001.pt is damaged"  # a run by its name, as the API names it
    assert scrub("nothing at /api/nothing; the API is listed at /docs") == ("nothing at /api/nothing; the API is "
                                                                            "listed at /docs")


# --- No links out, and one bad run does not break the list ------------------------------------------------------

def test_links_planted_in_a_run_folder_are_never_followed(api, done, server, tmp_path):
    run, secret = server.runs / done, tmp_path / "passwd"
    secret.write_text("root:x:0:0\n")
    (run / "samples" / "step-0009999.png").symlink_to(secret)
    try:
        assert 9999 not in api.get(f"/api/runs/{done}/samples").json()["steps"]
        detail = refusal(api.get(f"/api/runs/{done}/samples/9999.png"), 409)
        assert "leads outside the run folder" in detail and str(secret) not in detail
        (run / "log.txt").rename(run / "log.txt.real")
        (run / "log.txt").symlink_to(secret)
        refusal(api.get(f"/api/runs/{done}/log"), 409)
        refusal(api.post("/api/training/resume", json={"run": done, "steps": 12}), 409)
        assert secret.read_text() == "root:x:0:0\n"
        assert done in {r["name"] for r in api.get("/api/runs").json()["runs"]}
    finally:
        (run / "samples" / "step-0009999.png").unlink()
        if (run / "log.txt.real").exists():
            (run / "log.txt").unlink()
            (run / "log.txt.real").rename(run / "log.txt")


@pytest.mark.parametrize("pointer", ["checkpoints/last", "last"])
def test_a_checkpoint_pointer_that_links_out_is_refused_before_it_is_read(api, done, server, tmp_path, pointer):
    """A run's `last` pointer names its newest checkpoint, and a pointer that names a missing file is quoted in the
    error: one planted as a link to any file outside would show that file's text to whoever forks the run or draws
    from it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2-in-a-file-outside")
    run = server.runs / f"pointer-out-{pointer.count('/')}"
    shutil.copytree(server.runs / done, run, ignore=shutil.ignore_patterns("trainer.lock"))
    (run / "checkpoints" / "last").unlink()
    (run / pointer).symlink_to(secret)
    answers = [api.post("/api/training/fork", json={"run": run.name}),
               api.get(f"/api/runs/{run.name}/generate.png", params={"seed": 1})]
    for response in answers:
        detail = refusal(response, 409)
        assert "leads outside the run folder" in detail and "hunter2" not in response.text, detail
    assert not server.manager.busy


def test_a_broken_run_is_listed_as_broken_and_the_others_still_list(api, done, server, tmp_path):
    bad = {"bad-status": lambda p: (p / "status.json").write_text("[1, 2"),
           "status-a-list": lambda p: (p / "status.json").write_text("[]"),
           "bad-types": lambda p: (p / "status.json").write_text(json.dumps({"status": "x", "step": "ten"})),
           "dangling": lambda p: (p / "config.json").unlink() or (p / "config.json").symlink_to(tmp_path / "none"),
           "config-out": lambda p: (p / "config.json").unlink() or (p / "config.json").symlink_to(tmp_path / "c")}
    (tmp_path / "c").write_text(json.dumps({"dataset": "secret"}))
    for name, damage in bad.items():
        (server.runs / name).mkdir()
        (server.runs / name / "config.json").write_text(json.dumps({"dataset": "fashion-mnist"}))
        damage(server.runs / name)
    response = api.get("/api/runs")
    assert response.status_code == 200, response.text
    listed = {r["name"]: r for r in response.json()["runs"]}
    assert listed[done]["status"] == "finished"
    for name in bad:
        assert listed[name]["status"] == "broken" and listed[name]["broken"], listed[name]
    assert "secret" not in response.text


# --- One writer per run -----------------------------------------------------------------------------------------

def test_resume_and_a_second_start_refuse_a_run_that_a_live_trainer_writes(api, done, server):
    held = RunLock(server.runs / done).acquire()
    try:
        detail = refusal(api.post("/api/training/resume", json={"run": done, "steps": 12}), 409)
        assert "is being trained by process" in detail and "one trainer writes a run at a time" in detail
        refusal(api.post("/api/training/start", json={"config": {**TINY, "steps": 2}, "name": done}), 409)
    finally:
        held.release()
    assert api.post("/api/training/resume", json={"run": done, "steps": 8}).status_code == 202
    wait_idle(api)
    assert api.get("/api/status").json()["state"] == "finished"


def test_a_run_whose_trainer_is_gone_is_listed_as_interrupted_at_its_last_checkpoint(api, done, server):
    run = server.runs / done
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "status": "running", "step": status["step"] + 3}))
    try:
        listed = {r["name"]: r for r in api.get("/api/runs").json()["runs"]}[done]
        assert listed["status"] == "interrupted" and listed["step"] == status["step"]
        assert f"resume continues from step {status['step']:,}" in listed["message"]
        held = RunLock(run).acquire()  # with a live trainer it is what its status says
        listed = {r["name"]: r for r in api.get("/api/runs").json()["runs"]}[done]
        held.release()
        assert listed["status"] == "running"
    finally:
        (run / "status.json").write_text(json.dumps(status))


def test_a_run_killed_before_its_first_checkpoint_is_listed_and_resumes_from_step_0(api, done, server):
    run = server.runs / "killed-early"
    shutil.copytree(server.runs / done, run)
    for path in (run / "checkpoints").iterdir():
        path.unlink()
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "status": "running", "step": 3}))
    listed = {r["name"]: r for r in api.get("/api/runs").json()["runs"]}["killed-early"]
    assert listed["status"] == "interrupted" and "a resume trains it again from step 0" in listed["message"]
    assert api.post("/api/training/resume", json={"run": "killed-early", "steps": 4}).status_code == 202
    wait_idle(api)
    assert api.get("/api/status").json()["state"] == "finished"
    assert (run / "checkpoints" / "step-0000004.pt").is_file()


# --- The token --------------------------------------------------------------------------------------------------

def test_the_query_token_is_taken_only_on_the_pages_first_load(tmp_path):
    with TestClient(create_app(tmp_path, token="s3cret"), follow_redirects=False) as client:
        assert client.get("/api/status", params={"token": "s3cret"}).status_code == 401
        assert client.get("/api/runs", params={"token": "s3cret"}).status_code == 401
        first = client.get("/", params={"token": "s3cret"})
        assert first.status_code == 303 and first.headers["location"] == "/"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        assert client.get("/api/status").status_code == 200  # the cookie from now on
    with TestClient(create_app(tmp_path, token="s3cret"), base_url="https://testserver",
                    follow_redirects=False) as client:
        assert "Secure" in client.get("/", params={"token": "s3cret"}).headers["set-cookie"]


def serve(tmp_path, *options: str) -> tuple[subprocess.Popen, str, list[str]]:
    process = subprocess.Popen([sys.executable, "-m", "dcgan", "serve", "--port", "0", "--runs-dir",
                                str(tmp_path / "runs"), *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url, lines = read_dashboard_url(process, timeout_s=HANG_S)
    assert url, "".join(lines)
    return process, url, lines


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by openssl for this test."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_a_token_file_and_tls_keep_the_token_out_of_ps_and_off_the_wire(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    (tmp_path / "token").write_text("s3cret-from-a-file\n")
    process, url, _ = serve(tmp_path, "--token-file", str(tmp_path / "token"), "--ssl-certfile", str(cert),
                            "--ssl-keyfile", str(key))
    try:
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+/\?token=s3cret-from-a-file", url)
        assert b"s3cret" not in Path(f"/proc/{process.pid}/cmdline").read_bytes()  # what `ps` shows
        base = url.split("?")[0]
        trusted = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=base, verify=trusted, timeout=60, follow_redirects=False) as client:
            assert client.get("/api/status").status_code == 401
            assert client.get("/api/status", params={"token": "s3cret-from-a-file"}).status_code == 401
            first = client.get(url)
            assert first.status_code == 303
            assert all(word in first.headers["set-cookie"] for word in ("HttpOnly", "SameSite=Strict", "Secure"))
            assert client.get("/api/status").json()["state"] == "idle"  # the cookie travels, encrypted
        with httpx.Client(timeout=60) as untrusting, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
            untrusting.get(base)  # it is TLS indeed: an unknown certificate is refused
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(HANG_S)


def test_a_token_on_the_command_line_works_with_a_warning(tmp_path):
    process, url, lines = serve(tmp_path, "--token", "visible")
    try:
        assert any("--token shows in `ps`" in line and "--token-file" in line for line in lines), lines
        with httpx.Client(timeout=60) as client:
            assert client.get(url.split("?")[0] + "api/status", headers={"authorization": "Bearer visible"}
                              ).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(HANG_S)


@pytest.mark.parametrize("options,words", [
    (["--token-file", "/nonexistent/token"], "cannot read --token-file"),
    (["--ssl-certfile", "cert.pem"], "needs both --ssl-certfile and --ssl-keyfile"),
    (["--memory-budget", "lots"], "is not a size"),
    (["--max-processes", "0"], "--max-processes must be at least 1"),
    (["--request-timeout", "0"], "--request-timeout must be between 0 and 3600 seconds"),
    (["--runs-dir", "notes.txt"], "notes.txt is a file, not a folder; choose the folder of runs"),
    (["--data-root", "notes.txt/data"], "data is inside"),
])
def test_bad_serve_options_are_one_line(tmp_path, options, words):
    """Said before the app is imported: here torch, torchvision, numpy and FastAPI cannot be (they took 5-7 s on
    a 2-core machine before every such line)."""
    (tmp_path / "notes.txt").write_text("a file where a folder is meant")
    blocked = env_without(tmp_path / "blocked", "torch", "torchvision", "numpy", "fastapi")
    result = run_cli("serve", "--port", "0", *options, cwd=tmp_path, timeout=HANG_S, env=blocked)
    assert result.returncode == 2 and words in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("options, field", [
    (dict(steps=5, keep_checkpoints=1000), "keep_checkpoints"),
    (dict(steps=100000, sample_every=1), "sample_every"),
    (dict(steps=10**8, sample_every=0, sample_every_epochs=0), "log_every"),
])
def test_a_run_that_would_fill_the_disk_is_refused_naming_what_to_lower(api, server, monkeypatch, options, field):
    monkeypatch.setattr(server.app.state.settings, "disk_budget", 2**20)
    detail = refusal(api.post("/api/training/start", json={"config": {**TINY, **options}}), 422, field)
    assert "more than the server's disk budget of 1 MiB per run" in detail
    assert api.get("/api/status").json()["state"] in ("idle", "finished", "stopped")


def test_a_runs_length_is_judged_by_the_processes_it_is_launched_on(api):
    """Each of 2 processes takes a batch a step, so an epoch of Fashion-MNIST's 60,000 images at batch 16 is 1,875
    steps, not 3,750: the admission counted the config's world_size (1) instead of the launch's, doubling the
    length (and the disk) it judged; a 2-process run resumed on one process was judged at half."""
    body = {"config": {**TINY, "batch_size": 16, "epochs": 10**5}, "nproc": 2}
    detail = refusal(api.post("/api/training/start", json=body), 422, "epochs")
    assert "100000 epochs of 1,875 steps" in detail, detail


def test_a_resume_on_several_processes_is_judged_at_the_length_it_asks_for(api, done):
    """The run (6 steps done) asked to go on for 100,000 epochs on 2 processes: it was launched, judged at its old
    length. Its 93.7 million steps (937 an epoch on 2 processes; under the bound) would write terabytes of grids."""
    detail = refusal(api.post("/api/training/resume", json={"run": "links", "epochs": 10**5, "nproc": 2}), 422,
                     "sample_every")
    assert "more than" in detail and not api.get("/api/status").json()["state"] in ("starting", "running")


@pytest.mark.parametrize("path, body, field", [
    ("/api/config/resolve", '{"config": {"wandb_project": "\\ud800"}}', "config"),
    ("/api/config/resolve", '{"config": {"dataset": "folder:\\ud800"}}', "config"),
    ("/api/training/start", '{"config": {"data_dir": "/usr/share/datasets/\\udc80"}}', "config"),
    ("/api/training/fork", '{"run": "links", "changes": {"\\udc80": 1}}', "changes"),
    ("/api/training/hyperparameters", '{"changes": {"lr_d": ["\\udfff"]}}', "changes"),
    ("/start_training", '{"steps": 5, "data_dir": "\\udc80"}', None),
])
def test_options_that_are_not_text_are_refused(api, done, server, path, body, field):
    """JSON lets a lone UTF-16 surrogate through as a string, which no config.json, log line or answer can
    encode: free-form options holding one are a 422 (they were a 500, and a run started with one answered 500
    to every request about it)."""
    method = api.patch if path.endswith("hyperparameters") else api.post
    detail = refusal(method(path, content=body, headers={"content-type": "application/json"}), 422, field)
    assert "half of a UTF-16 surrogate pair, not text; send UTF-8 text" in detail
    assert not server.manager.busy


LONG = "x" * 60_000  # inside the body limit (64 KiB)


@pytest.mark.parametrize("path, body, field", [
    ("/api/config/resolve", {"config": {"dataset": LONG}}, "config"),
    ("/api/config/architecture", {"config": {LONG: 1}}, "config"),
    ("/api/training/start", {"config": {"loss": LONG, "steps": 5}}, "config"),
    ("/api/training/fork", {"run": "links", "changes": {"wandb_project": LONG}}, "changes"),
    ("/api/training/hyperparameters", {"changes": {LONG[:65]: 1}}, "changes"),
    ("/start_training", {"steps": 5, "diffaugment": LONG}, None),
])
def test_option_text_is_bounded_so_a_refusal_stays_one_short_line(api, done, server, path, body, field):
    """Free-form options hold text of any length the body allows, and a refusal quotes the value (unknown dataset
    'xxx...'), so a 60 KB value came back twice in a 120 KB answer; their text is bounded as typed fields' is."""
    method = api.patch if path.endswith("hyperparameters") else api.post
    response = method(path, json=body)
    detail = refusal(response, 422, field)
    assert "characters" in detail and len(response.content) < 2000, detail[:200]
    assert not server.manager.busy


def test_a_path_of_any_length_a_file_system_takes_is_still_an_option(api):
    response = api.post("/api/config/resolve", json={"config": {"data_dir": "./" + "d/" * 2000}})
    assert response.status_code == 200, response.text[:300]


def test_a_live_change_that_would_fill_the_disk_is_refused(api, server, monkeypatch):
    """The disk is checked again when sample_every changes live: a run admitted with one grid at its end may not
    then ask for a grid every step (2.5 GB here) by PATCH."""
    monkeypatch.setattr(server.app.state.settings, "disk_budget", 16 * 2**20)
    body = {"config": {**TINY, "steps": 100000, "sample_every": 100000, "log_every": 100000}, "paused": True}
    assert api.post("/api/training/start", json=body).status_code == 202
    change = {"changes": {"sample_every": 1}}
    detail = refusal(api.patch("/api/training/hyperparameters", json=change), 422, "sample_every")
    assert "more than the server's disk budget of 16 MiB per run" in detail
    assert api.get("/api/training/hyperparameters").json()["values"]["sample_every"] == 100000
    assert api.patch("/api/training/hyperparameters", json={"changes": {"sample_every": 50000}}).status_code == 200
    api.post("/api/training/stop", params={"wait_s": 60})


def test_runs_leave_the_disk_reserve_free(api, server, monkeypatch):
    monkeypatch.setattr(server.app.state.settings, "disk_reserve", 2**60)  # more than any disk has
    detail = refusal(api.post("/api/training/start", json={"config": {**TINY, "steps": 5}}), 422)
    assert "more than the 0 MiB free on the runs folder's disk beyond the" in detail and "this server leaves free" \
        in detail


# --- Slow clients ------------------------------------------------------------------------------------------------

def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed this connection (a read returns end of file or a reset)."""
    try:
        return sock.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_a_request_that_does_not_arrive_in_time_is_cut_off_and_a_websocket_is_not(tmp_path):
    """--request-timeout (here 1 s): a head sent a byte at a time, or left unfinished on a kept-alive connection,
    loses its connection once its time is up; whole requests are answered, and an open WebSocket lives on."""
    head = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    with serving(create_app(tmp_path / "runs", heartbeat_s=0.2), tmp_path / "runs", request_seconds=1) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as trickle:
            cut_off = False
            for byte in (head + b"X-Slow: " + b"a" * 600):  # a byte every 0.1 s: a minute
                try:
                    trickle.sendall(bytes([byte]))
                except (ConnectionResetError, BrokenPipeError):
                    cut_off = True
                    break
                time.sleep(0.1)
                trickle.setblocking(False)
                try:
                    cut_off = trickle.recv(1) == b""
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    cut_off = True
                trickle.setblocking(True)
                if cut_off:
                    break
            assert cut_off, "a request sent a byte at a time kept its connection"
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as kept:
            kept.sendall(head + b"\r\n")
            assert kept.recv(65536).startswith(b"HTTP/1.1 200")  # a whole request is answered ...
            kept.sendall(head)  # ... and the next one on the same connection gets its own time
            assert closed_by_server(kept)
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as body:
            body.sendall(b"POST /api/training/start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                         b"\r\nContent-Length: 100\r\n\r\n{")  # a body that never comes
            assert closed_by_server(body)
        with Live(server.ws_url) as live:
            live.wait_for(lambda m: m["type"] == "heartbeat")
            first = len(live.of("heartbeat"))
            time.sleep(1.5)  # past the deadline
            live.wait_for(lambda m: len(live.of("heartbeat")) > first + 5)  # still receiving
            live.ws.send("still open")


def test_connections_beyond_the_limit_are_answered_503_and_closed(tmp_path):
    """At most max_connections at once (here 4, counting the one asking): idle connections fill the rest, and a
    request on one more is refused at once; when one closes, requests are served again."""
    request = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    said: list[str] = []
    log = logging.getLogger("uvicorn.error")
    listener = logging.Handler()
    listener.emit = lambda record: said.append(record.getMessage())
    with serving(create_app(tmp_path / "runs"), tmp_path / "runs", max_connections=4) as server:
        log.addHandler(listener)
        port = int(server.url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port), timeout=HANG_S) for _ in range(3)]
        try:
            for sock in idle:  # each answered once and kept alive: the server counts it
                sock.sendall(request)
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            for _ in range(3):
                with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as extra:
                    extra.sendall(request)
                    assert extra.recv(65536).startswith(b"HTTP/1.1 503")
                    assert closed_by_server(extra)
        finally:
            idle.pop().close()
            log.removeHandler(listener)
        refusals = [m for m in said if "refused" in m or "concurrency" in m]
        assert len(refusals) == 1 and refusals[0].startswith("requests are refused with 503"), said  # not 3
        deadline = time.monotonic() + HANG_S
        while True:  # the server notices the close when it next reads that socket
            with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as again:
                again.sendall(request)
                if again.recv(65536).startswith(b"HTTP/1.1 200"):
                    break
            assert time.monotonic() < deadline, "requests were still refused after a connection closed"
            time.sleep(0.05)
        for sock in idle:
            sock.close()


@pytest.mark.parametrize("head", [
    b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: " + b"a" * 200_000 + b"\r\n\r\n",  # over 64 KiB
    b"POST /api/config/resolve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
    b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /api/status HTTP/9\r\n\r\n",
], ids=["huge-head", "negative-length", "two-hosts", "bad-version"])
def test_a_request_that_is_not_http_is_answered_in_the_apis_error_shape(server, head):
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as sock:
        for start in range(0, len(head), 16384):  # a piece at a time, until the server answers: a close with
            sock.sendall(head[start:start + 16384])  # unread bytes would reset the connection, answer and all
            if select.select([sock], [], [], 0.2)[0]:
                break
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in headers.lower()
    detail = json.loads(body)["detail"]
    assert detail.startswith("the request is not valid HTTP/1.1") and "64 KiB" in detail


def test_a_folder_whose_name_ends_in_a_newline_is_no_run(api, server):
    """Names are whole matches: `$` alone lets a trailing newline through, so such a folder was listed as a run
    whose every route then answered 404 (it cannot be named in a URL)."""
    odd = server.runs / "odd\n"
    odd.mkdir()
    (odd / "config.json").write_text("{}")
    try:
        assert not any(r["name"].startswith("odd") for r in api.get("/api/runs").json()["runs"])
    finally:
        (odd / "config.json").unlink()
        odd.rmdir()
