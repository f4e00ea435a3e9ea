"""Runs over HTTP (issues 3, 6, 9): list, detail, metrics with downsampling, samples, generation from any
checkpoint, latent interpolation and arithmetic, the record, side by side, and names that must not escape."""

from __future__ import annotations

import concurrent.futures
import io
import json
import shutil
import threading
import time
import tracemalloc

import pytest
from PIL import Image

from conftest import write_long_metrics, write_metrics_as_before_the_vocabulary
from dcgan.sampling import LoadedGenerator
from dcgan.server import schemas
from dcgan.vocabulary import STEP_METRICS

from .conftest import finish, wait_idle


@pytest.fixture(scope="module")
def runs(server):
    """Two finished runs of the same seed (different D learning rate) and a conditional one."""
    with server.client() as client:
        a = finish(client, steps=30, name="side-a")
        b = finish(client, steps=20, name="side-b", lr_d=4e-4, sample_every=7)
        c = finish(client, steps=6, name="conditional", conditional=True, checkpoint_every=3)
    return a, b, c


def png(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def test_runs_list_and_detail(api, runs):
    listed = {r["name"]: r for r in api.get("/api/runs").json()["runs"]}
    assert {"side-a", "side-b", "conditional"} <= set(listed)
    a = listed["side-a"]
    assert a["status"] == "finished" and a["step"] == 30 and a["dataset"] == "fashion-mnist" and not a["active"]
    assert a["device"] == "cpu"  # where it trained (its config says "auto"), for the page's status card
    assert a["loss"] == "nonsaturating"  # its config leaves it to the default: the objective it trained with
    assert listed["conditional"]["conditional"] and listed["conditional"]["num_classes"] == 10
    detail = api.get("/api/runs/side-a").json()
    assert detail["config"]["g_width"] == 8 and detail["config"]["seed"] == 7
    first = detail["checkpoints"][0]
    assert (first["name"], first["step"], first["last"]) == ("step-0000030.pt", 30, True) and first["bytes"] > 0
    assert detail["sample_steps"] == {"count": 7, "first": 0, "last": 30, "steps": [0, 5, 10, 15, 20, 25, 30],
                                      "every": 1, "thinned": False, "limit": 1000}


def test_metrics_are_downsampled_on_request(api, runs):
    full = api.get("/api/runs/side-a/metrics").json()
    assert full["step"] == list(range(1, 31)) and not full["downsampled"] and full["points"] == 30
    small = api.get("/api/runs/side-a/metrics", params={"max_points": 10}).json()
    assert len(small["step"]) == 10 and small["downsampled"] and small["step"][-1] == 30
    mean = sum(full["series"]["loss/D"][:3]) / 3
    assert small["series"]["loss/D"][0] == pytest.approx(mean)  # buckets are averages
    assert [e["epoch"] for e in full["epochs"]] == []  # 30 steps are far from an epoch


def test_sample_grids_by_step(api, runs):
    assert api.get("/api/runs/side-a/samples").json() == {"count": 7, "first": 0, "last": 30,
                                                          "steps": [0, 5, 10, 15, 20, 25, 30], "every": 1,
                                                          "thinned": False, "limit": 1000}
    grid = png(api.get("/api/runs/side-a/samples/10.png"))
    assert grid.size == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2)  # 16 images, 4 a row, 2 pixels apart
    missing = api.get("/api/runs/side-a/samples/11.png")
    assert missing.status_code == 404 and "no sample grid at step 11" in missing.json()["detail"]


def test_a_run_with_more_grids_than_a_slider_can_show_sends_them_bounded(api, runs, server):
    """A run that saved a grid at every step (sample_every 1) for 2 500 steps: its detail and /samples list at
    most MAX_SAMPLE_STEPS of them, evenly spread (every 4th from the first, and the last), with the stride, the
    exact count and both ends; each listed step is a grid the server serves."""
    long = server.runs / "many-grids"
    shutil.copytree(server.runs / runs[0], long, ignore=shutil.ignore_patterns("trainer.lock"))
    grid = (long / "samples" / "step-0000030.png").read_bytes()
    for step in range(1, 2501):
        (long / "samples" / f"step-{step:07d}.png").write_bytes(grid)
    for answer in (api.get("/api/runs/many-grids/samples").json(),
                   api.get("/api/runs/many-grids").json()["sample_steps"]):
        assert (answer["count"], answer["first"], answer["last"], answer["thinned"]) == (2501, 0, 2500, True)
        assert answer["steps"] == list(range(0, 2501, 4))  # 626 of 2 501: every 4th grid, the last among them
        assert answer["every"] == 4  # the stride, for a client that adds later grids as the server would
        assert answer["limit"] == schemas.MAX_SAMPLE_STEPS  # and the bound at which it thins them
    assert len(answer["steps"]) <= schemas.MAX_SAMPLE_STEPS
    png(api.get("/api/runs/many-grids/samples/2496.png"))


def test_generate_png_has_the_count_size_and_seed(api, runs):
    response = api.get("/api/runs/side-a/generate.png", params={"count": 64, "seed": 3})
    assert png(response).size == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)
    assert response.headers["x-seed"] == "3" and response.headers["x-step"] == "30"
    again = api.get("/api/runs/side-a/generate.png", params={"count": 64, "seed": 3})
    assert again.content == response.content  # a seed names its images
    assert png(api.get("/api/runs/side-a/generate.png", params={"count": 1})).size == (28, 28)
    too_many = api.get("/api/runs/side-a/generate.png", params={"count": 257})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "count"


def test_generate_from_a_chosen_checkpoint_and_select_one(api, runs):
    early = api.get("/api/runs/conditional/generate.png", params={"checkpoint": "step-0000003.pt", "label": 2,
                                                                  "seed": 1})
    assert early.headers["x-step"] == "3"
    chosen = api.put("/api/runs/conditional/generator", json={"checkpoint": "step-0000003.pt"}).json()
    assert chosen["step"] == 3 and chosen["num_classes"] == 10
    by_default = api.get("/api/runs/conditional/generate.png", params={"label": 2, "seed": 1})
    assert by_default.content == early.content
    assert api.put("/api/runs/conditional/generator", json={"checkpoint": None}).json()["step"] == 6
    missing = api.put("/api/runs/conditional/generator", json={"checkpoint": "step-0000099.pt"})
    assert missing.status_code == 404


def test_class_conditional_generation_needs_a_valid_label(api, runs):
    shirts = api.get("/api/runs/conditional/generate.png", params={"count": 8, "label": 6, "seed": 0})
    png(shirts)
    bags = api.get("/api/runs/conditional/generate.png", params={"count": 8, "label": 8, "seed": 0})
    assert bags.content != shirts.content
    every_class = api.get("/api/runs/conditional/generate.png", params={"count": 10, "seed": 0})
    png(every_class)  # without a label the images go through the classes in turn
    out_of_range = api.get("/api/runs/conditional/generate.png", params={"label": 10})
    assert out_of_range.status_code == 422 and out_of_range.json()["errors"][0]["field"] == "label"
    assert "use a number or a name from 0=T-shirt/top" in out_of_range.json()["detail"]
    # A class by name, as on the command line and in Python
    by_name = api.get("/api/runs/conditional/generate.png", params={"count": 8, "label": "bag", "seed": 0})
    assert by_name.content == bags.content
    unknown = api.get("/api/runs/conditional/generate.png", params={"label": "hat"})
    assert unknown.status_code == 422 and "unknown class 'hat'" in unknown.json()["detail"]
    no_label = api.get("/api/runs/conditional/interpolate.png", params={"from_seed": 1, "to_seed": 2})
    assert no_label.status_code == 422 and no_label.json()["errors"][0]["loc"] == ["query", "label"]  # not the body
    no_label = api.post("/api/runs/conditional/arithmetic.png", json={"a": [1], "b": [2], "c": [3]})
    assert no_label.status_code == 422 and no_label.json()["errors"][0]["loc"] == ["body", "label"]  # no "config"
    # Arithmetic takes a class by name too, as the drawings' query does.
    seeds = {"a": [1], "b": [2], "c": [3], "variations": 0}
    dresses = api.post("/api/runs/conditional/arithmetic.png", json={**seeds, "label": "dress"})
    assert dresses.status_code == 200, dresses.text
    assert dresses.content == api.post("/api/runs/conditional/arithmetic.png", json={**seeds, "label": 3}).content
    unknown = api.post("/api/runs/conditional/arithmetic.png", json={**seeds, "label": "hat"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "label", unknown.text
    unconditional = api.get("/api/runs/side-a/generate.png", params={"label": 1})
    assert unconditional.status_code == 422 and "unconditional" in unconditional.json()["detail"]


def test_interpolation_strip_and_gif(api, runs):
    strip = png(api.get("/api/runs/side-a/interpolate.png", params={"from_seed": 1, "to_seed": 2, "steps": 6}))
    assert strip.size[0] > strip.size[1] * 4  # one row of six images
    gif = api.get("/api/runs/side-a/interpolate.gif", params={"from_seed": 1, "to_seed": 2, "steps": 6,
                                                                 "mode": "lerp"})
    assert gif.headers["content-type"] == "image/gif"
    animation = Image.open(io.BytesIO(gif.content))
    assert animation.n_frames == 10  # there (6) and back without repeating the ends (4)
    bad = api.get("/api/runs/side-a/interpolate.png", params={"mode": "cubic"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "mode"


def test_vector_arithmetic(api, runs):
    figure = api.post("/api/runs/side-a/arithmetic.png", json={"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]})
    assert png(figure).size[0] > 0
    empty = api.post("/api/runs/side-a/arithmetic.png", json={"a": [], "b": [4], "c": [7]})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "a"


def test_architecture_from_the_real_models(api, runs):
    arch = api.get("/api/runs/side-a/architecture").json()
    assert arch["generator"]["layers"][-1]["output_shape"] == [1, 28, 28]
    assert arch["discriminator"]["params"] > 0
    conditional = api.get("/api/runs/conditional/architecture").json()
    assert conditional["generator"]["layers"][-1]["output_shape"] == [1, 28, 28]


def test_record_log_and_eval(api, runs):
    record = api.get("/api/runs/side-a/record").json()
    assert record["seed"] == 7 and record["parent"] is None
    session = record["sessions"][0]
    assert "POST /api/training/start" in session["command"] and session["versions"]["torch"]
    assert len(session["dataset"]["fingerprint"]) >= 16 and session["device"] == "cpu"
    lines = api.get("/api/runs/side-a/log").json()["lines"]
    assert any(line["message"].startswith("device: cpu") for line in lines)
    missing = api.get("/api/runs/side-a/eval")
    assert missing.status_code == 404 and "dcgan eval" in missing.json()["detail"]


def test_eval_report_is_served_as_written(api, runs, server):
    report = {"step": 30, "samples": 100, "metrics": {"fid": 123.4, "kid": 0.05}}
    (server.runs / "side-b" / "eval.json").write_text(json.dumps(report))
    assert api.get("/api/runs/side-b/eval").json() == report


def test_side_by_side_metrics_and_matched_samples(api, runs):
    both = api.get("/api/compare/metrics", params={"runs": ["side-a", "side-b"]}).json()["runs"]
    assert [r["run"] for r in both] == ["side-a", "side-b"]
    assert len(both[0]["metrics"]["step"]) == 30 and len(both[1]["metrics"]["step"]) == 20
    matched = api.get("/api/compare/samples", params={"runs": ["side-a", "side-b"], "step": 13}).json()
    assert [(s["run"], s["step"]) for s in matched["samples"]] == [("side-a", 15), ("side-b", 14)]
    assert png(api.get(matched["samples"][1]["url"])).size[0] > 0
    missing = api.get("/api/compare/metrics", params={"runs": ["side-a", "nope"]})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    for bad in ("side-a\n", "a" * 5000, "../side-a"):  # a trailing newline passed Python's `$` before
        refused = api.get("/api/compare/metrics", params={"runs": [bad]})
        assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["query", "runs", 0]
        assert "a" * 100 not in refused.text


def test_a_run_written_before_the_metric_vocabulary_is_listed_charted_compared_and_resumed(api, runs, server):
    """metrics.jsonl with the old names (loss_D, D_x, ...), written by hand over a real run: the run list, its
    detail, its curves and side by side read them by today's names, and a resume continues the file in them."""
    run = finish(api, steps=6, name="before-the-vocabulary")
    rows = [r for r in write_metrics_as_before_the_vocabulary(server.runs / run) if "event" not in r]
    listed = {r["name"]: r for r in api.get("/api/runs").json()["runs"]}
    assert listed[run]["status"] == "finished" and listed[run]["step"] == 6
    assert api.get(f"/api/runs/{run}").json()["config"]["seed"] == 7
    series = api.get(f"/api/runs/{run}/metrics").json()["series"]
    assert series["loss/D"] == pytest.approx([r["loss/D"] for r in rows])
    assert {"D/real", "D/fake", "lr/G", "speed/images_per_s"} <= set(series) <= set(STEP_METRICS)
    compared = api.get("/api/compare/metrics", params={"runs": [run, "side-a"]}).json()["runs"]
    assert compared[0]["metrics"]["series"]["D/real"] == series["D/real"]

    resumed = api.post("/api/training/resume", json={"run": run, "steps": 9})
    assert resumed.status_code == 202, resumed.text
    wait_idle(api)
    after = api.get(f"/api/runs/{run}/metrics").json()
    assert after["step"] == list(range(1, 10)) and None not in after["series"]["loss/D"]
    written = [json.loads(line) for line in (server.runs / run / "metrics.jsonl").read_text().splitlines()]
    assert all("loss/D" in r and "loss_D" not in r for r in written if "event" not in r)  # one vocabulary now


def test_files_edited_by_hand_are_read_or_refused_in_one_line(api, runs, server):
    """A changes.json whose step is not a number is shown as no changes (a resume says it is damaged); a
    config.json with values of the wrong type lists the run as broken with one clause and its detail answers 409.
    Both were 500s with a pydantic dump (found by the chaos audit)."""
    run = server.runs / "edited"
    shutil.copytree(server.runs / "side-b", run)
    (run / "changes.json").write_text('[{"step": "a", "field": "lr_d", "old": 1, "new": 2}]')
    for path in ("/api/runs/edited", "/api/runs/edited/generator", "/api/runs/edited/generate.png?count=1"):
        assert api.get(path).status_code == 200, path
    assert api.get("/api/runs/edited").json()["changes"] == []
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "dataset": 5}))
    listed = {r["name"]: r for r in api.get("/api/runs").json()["runs"]}["edited"]
    assert listed["status"] == "broken"
    assert listed["broken"].startswith("config.json or status.json is damaged (dataset")
    assert "\n" not in listed["broken"] and "pydantic" not in listed["broken"]
    detail = api.get("/api/runs/edited")
    assert detail.status_code == 409 and detail.json()["detail"].startswith("config.json or status.json is damaged")
    shutil.rmtree(run)


@pytest.mark.parametrize("path", [
    "/api/runs/..%2F..%2Fetc/metrics", "/api/runs/%2E%2E/metrics", "/api/runs/.hidden", "/api/runs/a%00b",
    "/api/runs/side-a/samples/..%2F..%2Fconfig.json", "/api/compare/metrics?runs=..",
])
def test_names_cannot_escape_the_runs_folder(api, runs, path):
    response = api.get(path)
    assert response.status_code in (404, 422), response.text
    assert "detail" in response.json() and "Traceback" not in response.text


def test_checkpoint_names_cannot_escape_the_run(api, runs):
    for name in ("../../side-b/checkpoints/step-0000020.pt", "../config.json", "/etc/passwd"):
        response = api.get("/api/runs/side-a/generate.png", params={"checkpoint": name})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "checkpoint"
    forked = api.post("/api/training/fork", json={"run": "side-a", "checkpoint": "../../x.pt"})
    assert forked.status_code == 422


def test_symlinked_run_pointing_outside_is_refused(api, runs, server, tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "config.json").write_text("{}")
    (server.runs / "sneaky").symlink_to(tmp_path / "outside")
    try:
        response = api.get("/api/runs/sneaky")
        assert response.status_code == 422 and "outside the runs folder" in response.json()["detail"]
    finally:
        (server.runs / "sneaky").unlink()


def test_unknown_run_is_404(api):
    response = api.get("/api/runs/never-trained")
    assert response.status_code == 404 and "GET /api/runs lists them" in response.json()["detail"]


def test_generators_draw_for_one_request_at_a_time(api, runs, server, monkeypatch):
    # Each drawing is held to the memory budget; drawn one at a time, concurrent requests cannot multiply it.
    drawing, most, release, lock = [0], [0], threading.Event(), threading.Lock()
    generate = LoadedGenerator.generate

    def held(self, *args, **kwargs):
        with lock:
            drawing[0] += 1
            most[0] = max(most[0], drawing[0])
        release.wait(60)
        try:
            return generate(self, *args, **kwargs)
        finally:
            with lock:
                drawing[0] -= 1

    monkeypatch.setattr(LoadedGenerator, "generate", held)
    monkeypatch.setattr(server.app.state.drawing, "most_waiting", 2)
    requests = [("GET", f"/api/runs/{runs[0]}/generate.png?seed=1", None),
                ("GET", f"/api/runs/{runs[0]}/interpolate.gif", None),
                ("POST", f"/api/runs/{runs[0]}/arithmetic.png", {"a": [1], "b": [2], "c": [3]})]

    def send(method, path, body):
        with server.client() as client:
            return client.request(method, path, json=body)

    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        answers = [pool.submit(send, *r) for r in requests]
        deadline = time.monotonic() + 60
        while not (drawing[0] == 1 and server.app.state.drawing.waiting == 2):
            assert time.monotonic() < deadline, f"{drawing[0]} drawing, {server.app.state.drawing.waiting} waiting"
            time.sleep(0.02)
        one_more = api.post("/generate", json={"num_images": 2})  # seed 000's API takes turns too
        assert one_more.status_code == 429 and one_more.headers["retry-after"] == "5"
        assert one_more.json()["detail"] == ("2 image requests are waiting for the generator already; try again when "
                                             "they are drawn")
        release.set()
        assert [a.result().status_code for a in answers] == [200] * len(requests)
    assert most[0] == 1


def test_a_long_history_is_averaged_down_as_it_is_read_never_held_whole(api, runs, server):
    """A run of 60 000 logged steps (an epoch mark every 1 000): its curve comes back in 1 000 buckets of 60 rows
    while the server holds a few MiB, not the ~100 MiB of Python rows the whole file makes."""
    source = server.runs / runs[0]
    long = server.runs / "long-history"
    shutil.copytree(source, long, ignore=shutil.ignore_patterns("trainer.lock"))
    row = json.loads((source / "metrics.jsonl").read_text().splitlines()[0])
    write_long_metrics(long / "metrics.jsonl", row, {1000: {"event": "epoch"}})
    tracemalloc.start()
    try:
        response = api.get("/api/runs/long-history/metrics", params={"max_points": 1000})
        held = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    metrics = response.json()
    assert metrics["points"] == 60_000 and metrics["downsampled"] and len(metrics["step"]) == 1000
    assert metrics["step"][:2] == [60, 120] and metrics["step"][-1] == 60_000
    assert metrics["series"]["loss/D"][0] == sum(range(1, 61)) / 60  # each bucket is the mean of its 60 rows
    assert len(metrics["epochs"]) == 60
    assert held < 16 * 2**20, f"{held / 2**20:.0f} MiB held to read the history"


def test_a_long_log_is_tailed_without_reading_it_whole(api, runs, server):
    long = server.runs / "long-log"
    shutil.copytree(server.runs / runs[0], long, ignore=shutil.ignore_patterns("trainer.lock"))
    with open(long / "log.txt", "a") as f:
        f.writelines(f"warning: line {i} {'x' * 80}\n" for i in range(300_000))  # 27 MB
    tracemalloc.start()
    try:
        lines = api.get("/api/runs/long-log/log", params={"lines": 3}).json()["lines"]
        held = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [line["message"].split()[1] for line in lines] == ["299997", "299998", "299999"]
    assert lines[0]["level"] == "warning"
    assert held < 4 * 2**20, f"{held / 2**20:.0f} MiB held to tail the log"
