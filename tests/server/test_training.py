"""Training control over HTTP (issue 3): start, a second start, graceful stop, resume, status fields."""

from __future__ import annotations

from .conftest import TINY, finish, start, wait_idle, wait_status


def test_start_answers_with_the_run_and_trains_in_the_background(api):
    status = start(api, steps=100000)
    assert status["state"] in ("starting", "running")
    assert status["run"].startswith("fashion-mnist-28-")
    running = wait_status(api, lambda s: s["step"] >= 5)
    assert running["state"] == "running" and running["device"] == "cpu"
    assert running["total_steps"] == 100000 and running["steps_per_epoch"] == 60000 // 32
    assert running["images_per_s"] > 0 and running["elapsed_s"] > 0
    assert running["eta_s"] is None or running["step"] >= 50  # the time left waits for the warm-up
    warm = wait_status(api, lambda s: s["step"] >= 60)
    assert warm["eta_s"] > 0


def test_second_start_is_409_with_a_clear_message(api):
    start(api, steps=100000)
    second = api.post("/api/training/start", json={"config": TINY})
    assert second.status_code == 409
    assert "already" in second.json()["detail"] and "stop it first" in second.json()["detail"]


def test_stop_is_graceful_finishes_the_step_and_checkpoints(api, server):
    run = start(api, steps=100000)["run"]
    wait_status(api, lambda s: s["step"] >= 3)
    stopped = api.post("/api/training/stop", params={"wait_s": 60}).json()
    assert stopped["state"] == "stopped" and stopped["run"] == run
    checkpoints = api.get(f"/api/runs/{run}").json()["checkpoints"]
    assert any(c["step"] == stopped["step"] and c["last"] for c in checkpoints)
    assert api.post("/api/training/stop").status_code == 409  # nothing left to stop


def test_resume_continues_from_the_checkpoint(api):
    run = start(api, steps=100000)["run"]
    wait_status(api, lambda s: s["step"] >= 3)
    at = api.post("/api/training/stop", params={"wait_s": 60}).json()["step"]
    resumed = api.post("/api/training/resume", json={"run": run, "steps": at + 6})
    assert resumed.status_code == 202, resumed.text
    assert resumed.json()["run"] == run and resumed.json()["step"] == at
    wait_idle(api)
    final = api.get("/api/status").json()
    assert final["state"] == "finished" and final["step"] == at + 6
    steps = api.get(f"/api/runs/{run}/metrics").json()["step"]
    assert steps == list(range(1, at + 7))  # one row per step, none twice
    # A total it has reached: the run by its name and the request's field names, no path or command-line flag.
    again = api.post("/api/training/resume", json={"run": run, "steps": at + 6})
    assert again.status_code == 422 and again.json()["detail"] == (
        f"{run} is already at step {at + 6} of {at + 6}; to train on, give more steps (or epochs) in all")


def test_bad_options_answer_422_naming_the_field(api):
    response = api.post("/api/training/start", json={"config": {**TINY, "batch_size": 0}})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "batch_size must be >= 1, got 0" and body["errors"][0]["field"] == "batch_size"
    unknown = api.post("/api/training/start", json={"config": {"bogus": 1}})
    assert unknown.status_code == 422 and "bogus" in unknown.json()["detail"]
    wrong_type = api.post("/api/training/start", json={"config": {"lr": "fast"}})
    assert wrong_type.status_code == 422 and wrong_type.json()["errors"][0]["field"] == "lr"


def test_malformed_json_is_422_not_a_traceback(api):
    response = api.post("/api/training/start", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]


def test_checkpoint_now_writes_one_at_the_current_step(api):
    run = start(api, steps=100000)["run"]
    wait_status(api, lambda s: s["step"] >= 2)
    saved = api.post("/api/training/checkpoint").json()
    assert saved["run"] == run and saved["checkpoint"] == f"step-{saved['step']:07d}.pt"
    names = [c["name"] for c in api.get(f"/api/runs/{run}").json()["checkpoints"]]
    assert saved["checkpoint"] in names


def test_a_finished_run_reports_finished(api):
    run = finish(api, steps=8)
    summary = next(r for r in api.get("/api/runs").json()["runs"] if r["name"] == run)
    assert summary["status"] == "finished" and summary["step"] == 8
