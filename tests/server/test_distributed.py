"""A dashboard run on several local processes (issue 8, item 4): `dcgan train --nproc 2` (torchrun, gloo on the
CPU) in a subprocess, shown like any other run and stopped gracefully."""

from __future__ import annotations

import json

from .conftest import TINY, Live, wait_idle, wait_status


def test_two_process_run_is_followed_and_stopped_gracefully(api, server):
    with Live(server.ws_url) as live:
        live.wait_for(lambda m: m["type"] == "hello")
        # A text option that starts with '-' reaches the processes' command line as a value, not as a flag.
        response = api.post("/api/training/start", json={"config": {**TINY, "steps": 100000, "wandb_project": "-x"},
                                                         "name": "two-procs", "nproc": 2})
        assert response.status_code == 202, response.text
        assert response.json()["nproc"] == 2 and response.json()["run"] == "two-procs"
        # Steering needs every process to wait on it: refused with a reason.
        refused = api.post("/api/training/pause")
        assert refused.status_code == 409 and "single-process" in refused.json()["detail"]
        running = wait_status(api, lambda s: s["state"] == "running" and s["step"] >= 3, timeout=180)
        assert running["total_steps"] == 100000 and running["device"] == "cpu"
        metrics = live.wait_for(lambda m: m["type"] == "metrics" and m["step"] >= 3)
        assert metrics["run"] == "two-procs" and metrics["values"]["loss/D"] > 0
        live.wait_for(lambda m: m["type"] == "sample" and m["step"] >= 5, timeout=120)
        # The log lines arrive live or, once the run announced itself, in the hello that redraws the page.
        lines = [m["line"] for m in live.of("log")] + [line for m in live.of("hello") for line in m["log"]]
        assert any("2 process(es)" in line["message"] for line in lines)
        stopped = api.post("/api/training/stop", params={"wait_s": 120}).json()
        wait_idle(api, timeout=120)
        live.wait_for(lambda m: m["type"] == "checkpoint")
    final = api.get("/api/status").json()
    assert final["state"] == "stopped", final
    assert final["step"] >= stopped["step"] >= 3
    checkpoints = api.get("/api/runs/two-procs").json()["checkpoints"]
    assert any(c["last"] and c["step"] == final["step"] for c in checkpoints)
    assert json.loads((server.runs / "two-procs" / "config.json").read_text())["wandb_project"] == "-x"
    record = json.loads((server.runs / "two-procs" / "run.json").read_text())
    assert record["sessions"][0]["processes"] == 2
    # Rank 0 alone writes the metrics: one row per logged step.
    steps = api.get("/api/runs/two-procs/metrics").json()["step"]
    assert steps == list(range(1, final["step"] + 1))
