"""Steering a run over HTTP (issue 9): pause, single D/G steps, live hyperparameters, forks, the record."""

from __future__ import annotations

import time

import pytest
import torch

from dcgan.checkpoint import load_checkpoint
from dcgan.rundir import read_metrics
from dcgan.server.manager import MAX_QUEUED_STEPS

from .conftest import TINY, Live, start, wait_idle, wait_status


@pytest.fixture
def paused(api):
    """A real run paused after a few steps; yields its name."""
    run = start(api, steps=100000)["run"]
    wait_status(api, lambda s: s["step"] >= 3)
    status = api.post("/api/training/pause").json()
    assert status["state"] == "paused"
    return run


def checkpoint_now(api, server, run):
    saved = api.post("/api/training/checkpoint").json()
    return load_checkpoint(server.runs / run / "checkpoints" / saved["checkpoint"])


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_pause_holds_the_step_counter(api, paused):
    held = api.get("/api/status").json()
    time.sleep(0.5)
    later = api.get("/api/status").json()
    assert later["state"] == "paused" and later["step"] == held["step"]
    assert later["eta_s"] is None  # no ETA while nothing moves
    resumed = api.post("/api/training/unpause").json()
    assert resumed["state"] == "running"
    wait_status(api, lambda s: s["step"] > held["step"] + 2)


def test_single_d_step_changes_only_d(api, server, paused):
    before = checkpoint_now(api, server, paused)
    result = api.post("/api/training/step", json={"part": "d"}).json()
    assert result["metrics"]["step"] == before["step"] + 1 and result["metrics"]["manual"] == "d"
    assert "loss/D" in result["metrics"]["values"] and "loss/G" not in result["metrics"]["values"]
    assert result["status"]["state"] == "paused" and result["status"]["step"] == before["step"] + 1
    assert api.get(result["sample_url"]).headers["content-type"] == "image/png"
    after = checkpoint_now(api, server, paused)
    assert same(before["G"], after["G"]) and not same(before["D"], after["D"])


def test_single_g_step_changes_only_g(api, server, paused):
    before = checkpoint_now(api, server, paused)
    result = api.post("/api/training/step", json={"part": "g"}).json()
    assert result["metrics"]["manual"] == "g" and "loss/G" in result["metrics"]["values"]
    after = checkpoint_now(api, server, paused)
    assert same(before["D"], after["D"]) and not same(before["G"], after["G"])


def test_full_step_and_bad_part(api, paused):
    step = api.get("/api/status").json()["step"]
    assert api.post("/api/training/step", json={"part": "full"}).json()["metrics"]["step"] == step + 1
    bad = api.post("/api/training/step", json={"part": "both"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "part"


def test_single_step_needs_a_pause(api):
    start(api, steps=100000)
    response = api.post("/api/training/step", json={"part": "d"})
    assert response.status_code == 409 and "pause" in response.json()["detail"]


def test_live_lr_change_reaches_the_optimizer_the_metrics_file_and_the_websocket(api, server, paused):
    with Live(server.ws_url) as live:
        live.wait_for(lambda m: m["type"] == "hello")
        answer = api.patch("/api/training/hyperparameters", json={"changes": {"lr_d": 4e-4}})
        assert answer.status_code == 200 and answer.json()["values"]["lr_d"] == 4e-4
        mark = live.wait_for(lambda m: m["type"] == "hparam")["mark"]
        assert mark["field"] == "lr_d" and mark["old"] == 2e-4 and mark["new"] == 4e-4
        step = api.post("/api/training/step", json={"part": "full"}).json()
        assert step["metrics"]["values"]["lr/D"] == pytest.approx(4e-4)  # read from the optimizer
        assert step["metrics"]["values"]["lr/G"] == pytest.approx(2e-4)
    rows = read_metrics(server.runs / paused / "metrics.jsonl")
    assert {"event": "hparam", "step": mark["step"], "field": "lr_d", "old": 2e-4, "new": 4e-4}.items() <= \
        next(r for r in rows if r.get("event") == "hparam").items()
    current = api.get("/api/training/hyperparameters").json()
    assert current["changes"][-1]["field"] == "lr_d" and "lr_g" in current["fields"]
    marks = api.get(f"/api/runs/{paused}/metrics").json()["hparams"]
    assert marks[-1]["field"] == "lr_d" and marks[-1]["step"] == mark["step"]


def test_step_requests_that_stop_waiting_leave_nothing_behind(api, server, paused):
    """A single step's request waits for its metrics and its grid; one that gave up first (wait_s=0: 504) left its
    grid's waiter behind, tested against every later event for the rest of the server's life: a loop of such
    requests grew the list, and every event's cost, without bound."""
    before = api.get("/api/status").json()["step"]
    for _ in range(8):
        assert api.post("/api/training/step", params={"wait_s": 0}, json={"part": "full"}).status_code == 504
    wait_status(api, lambda s: s["step"] == before + 8)  # each step was still taken
    api.post("/api/training/checkpoint")  # one event more after the last step's
    assert server.manager._waiters == []


def test_single_steps_not_waited_for_are_queued_to_a_bound(api, server, paused):
    """Each single step is taken with its own grid and metrics row, beyond what the run's sample_every was admitted
    with: requests that do not wait for theirs (wait_s=0) queue at most MAX_QUEUED_STEPS, and the next is told to
    retry; each queued one is still taken."""
    before = api.get("/api/status").json()["step"]
    codes = [api.post("/api/training/step", params={"wait_s": 0}, json={"part": "d"}).status_code
             for _ in range(MAX_QUEUED_STEPS + 8)]
    assert set(codes) == {504, 429} and codes[:MAX_QUEUED_STEPS // 2] == [504] * (MAX_QUEUED_STEPS // 2), codes
    wait_status(api, lambda s: s["step"] == before + codes.count(504))
    assert api.post("/api/training/step", json={"part": "g"}).status_code == 200  # the queue is free again


def test_single_steps_count_against_the_runs_disk(api, server, monkeypatch):
    """Each single step writes a grid beside those the run was admitted with (sample_every): a client stepping by
    hand could fill the disk a grid at a time. Here the disk budget leaves room for three more grids."""
    from dcgan import budget

    assert api.post("/api/training/start", json={"config": {**TINY, "steps": 100, "sample_every": 1000},
                                                       "paused": True}).status_code == 202
    wait_status(api, lambda s: s["state"] == "paused")
    trainer = server.manager.trainer
    grid = 2 * trainer.config.sample_count * 1 * 28 * 28
    admitted = sum(budget.disk_cost(trainer.config, trainer.total_steps).values())
    monkeypatch.setattr(server.app.state.settings, "disk_budget", admitted + grid * 7 // 2)
    assert [api.post("/api/training/step", json={"part": "full"}).status_code for _ in range(3)] == [200] * 3
    refused = api.post("/api/training/step", json={"part": "full"})
    assert refused.status_code == 409 and "one more (4 this session)" in refused.json()["detail"], refused.text
    assert api.get("/api/status").json()["step"] == 3
    assert api.post("/api/training/unpause").status_code == 200  # training on is not refused


def test_options_that_cannot_change_live_answer_422(api, paused):
    response = api.patch("/api/training/hyperparameters", json={"changes": {"batch_size": 64}})
    assert response.status_code == 422
    assert "batch_size" in response.json()["detail"] and "fork" in response.json()["detail"]
    bad_value = api.patch("/api/training/hyperparameters", json={"changes": {"lr_g": -1}})
    assert bad_value.status_code == 422 and bad_value.json()["errors"][0]["field"] == "lr_g"


def test_live_changes_queued_while_paused_count_toward_the_limit(api, monkeypatch):
    """A run keeps at most MAX_LIVE_CHANGES (here 3) changes: those queued and not yet carried out count too, so
    requests sent faster than the trainer carries them out cannot go past the limit."""
    monkeypatch.setattr("dcgan.training.MAX_LIVE_CHANGES", 3)
    body = {"config": {**TINY, "steps": 100000}, "paused": True}
    assert api.post("/api/training/start", json=body).status_code == 202
    answers = [api.patch("/api/training/hyperparameters", json={"changes": {"lr_d": 1e-4 + i * 1e-6}})
               for i in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 422, 422]
    assert "the most one run keeps is 3" in answers[3].json()["detail"]
    api.post("/api/training/stop", params={"wait_s": 60})
    assert len(api.get("/api/training/hyperparameters").json()["changes"]) <= 3


def test_fork_starts_from_the_parents_weights_exactly(api, server, paused):
    parent = checkpoint_now(api, server, paused)
    api.post("/api/training/stop", params={"wait_s": 60})
    checkpoint = f"step-{parent['step']:07d}.pt"
    forked = api.post("/api/training/fork", json={"run": paused, "checkpoint": checkpoint, "name": f"{paused}-fork",
                                                   "changes": {"lr_d": 4e-4, "steps": parent["step"] + 2},
                                                   "paused": True})
    assert forked.status_code == 202, forked.text
    assert forked.json()["run"] == f"{paused}-fork" and forked.json()["step"] == parent["step"]
    # Paused before its first step (however fast the machine), the fork's weights are the parent's, bit for bit.
    wait_status(api, lambda s: s["state"] == "paused")
    child = checkpoint_now(api, server, f"{paused}-fork")
    assert child["step"] == parent["step"] and same(parent["G"], child["G"]) and same(parent["D"], child["D"])
    api.post("/api/training/unpause")
    wait_idle(api)
    runs = {r["name"]: r for r in api.get("/api/runs").json()["runs"]}
    assert runs[f"{paused}-fork"]["parent"] == {"run": paused, "step": parent["step"], "checkpoint": checkpoint}
    assert runs[paused]["parent"] is None
    record = api.get(f"/api/runs/{paused}-fork/record").json()
    assert record["parent"]["step"] == parent["step"] and "POST /api/training/fork" in record["sessions"][0]["command"]
    assert record["sessions"][0]["dataset"]["fingerprint"]


def test_fork_cannot_change_the_networks(api, server, paused):
    api.post("/api/training/stop", params={"wait_s": 60})
    response = api.post("/api/training/fork", json={"run": paused, "changes": {"g_width": 16}})
    assert response.status_code == 422 and "g_width" in response.json()["detail"]


def test_steering_needs_an_active_training(api):
    for path in ("/api/training/pause", "/api/training/unpause", "/api/training/checkpoint"):
        response = api.post(path)
        assert response.status_code == 409 and "no training is running" in response.json()["detail"]


def test_a_start_asked_to_be_paused_holds_before_its_first_step(api):
    response = api.post("/api/training/start", json={"config": {**TINY, "steps": 100000}, "paused": True})
    assert response.status_code == 202, response.text
    status = wait_status(api, lambda s: s["state"] == "paused")
    assert status["step"] == 0
    time.sleep(0.5)
    assert api.get("/api/status").json()["step"] == 0  # held, not training
    assert api.post("/api/training/step", json={"part": "full"}).json()["metrics"]["step"] == 1


def test_the_eta_counts_the_images_a_step_takes_after_a_live_d_steps_change(api, paused):
    api.patch("/api/training/hyperparameters", json={"changes": {"d_steps": 2}})
    wait_for = time.monotonic() + 60
    while not api.get("/api/training/hyperparameters").json()["changes"]:
        assert time.monotonic() < wait_for, "the change was never applied"
        time.sleep(0.05)
    api.post("/api/training/unpause")
    status = wait_status(api, lambda s: s["state"] == "running" and bool(s["eta_s"]) and bool(s["images_per_s"]))
    # eta = steps left x images per step / images per s: with d_steps 2 a step takes two batches of 32.
    images_per_step = status["eta_s"] * status["images_per_s"] / (status["total_steps"] - status["step"])
    assert images_per_step == pytest.approx(TINY["batch_size"] * 2)


def test_a_runs_detail_keeps_its_choices_apart_from_the_values_it_trains_with(api, server, paused):
    before = checkpoint_now(api, server, paused)["step"]
    api.post("/api/training/step", json={"part": "full"})
    api.patch("/api/training/hyperparameters", json={"changes": {"lr_d": 4e-4}})
    api.post("/api/training/step", json={"part": "full"})
    after = checkpoint_now(api, server, paused)["step"]
    detail = api.get(f"/api/runs/{paused}").json()
    assert (detail["config"]["lr_d"], detail["config"]["image_size"]) == (None, None)  # left to the defaults
    assert detail["resolved"]["lr_g"] == TINY["lr"] and detail["resolved"]["lr_d"] == 4e-4
    assert detail["resolved"]["image_size"] == 28 and detail["resolved"]["d_norm"] == "batch"
    # What a fork of each checkpoint starts from: the choices then, live changes included.
    options = {c["step"]: c["options"] for c in detail["checkpoints"] if c["step"] is not None}
    assert options[before]["lr_d"] is None and options[after]["lr_d"] == 4e-4
    assert detail["options"]["lr_d"] == 4e-4 and detail["options"]["lr_g"] is None
