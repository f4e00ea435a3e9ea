"""A server owns its runs across crashes (issue 18): `kill -9` of a real `dcgan serve` takes its training processes
with it, the next server lists a run whose trainer is gone as interrupted at its last checkpoint, and exactly one
trainer writes a run at a time (resume refuses while another trainer lives, and takes over once it is gone)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import HANG_S, read_dashboard_url, until
from dcgan.checkpoint import resolve_checkpoint
from dcgan.rundir import holder
from dcgan.rundir import read_metrics
from dcgan.lifeline import descendants

from .conftest import TINY, finish, wait_idle


def serve(runs: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "dcgan", "serve", "--port", "0", "--runs-dir", str(runs)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url, lines = read_dashboard_url(process, timeout_s=HANG_S)
    assert url, "".join(lines)
    return process, url.split("?")[0]


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def steps_of(run: Path) -> list[int]:
    return [r["step"] for r in read_metrics(run / "metrics.jsonl") if "loss/D" in r]


def status_of(api: httpx.Client) -> dict:
    return api.get("/api/status").json()


def test_a_killed_servers_single_process_run_is_listed_as_interrupted_and_resumes_once(tmp_path):
    runs = tmp_path / "runs"
    server, url = serve(runs)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            body = {"config": {**TINY, "steps": 100000, "checkpoint_every": 4}, "name": "one"}
            assert api.post("/api/training/start", json=body).status_code == 202
            until(lambda: status_of(api)["step"] >= 9, "two checkpoints")
            assert holder(runs / "one").pid == server.pid
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    assert json.loads((runs / "one" / "status.json").read_text())["status"] == "running"  # what it last said
    assert holder(runs / "one") is None  # the lock ended with the process
    last = int(resolve_checkpoint(runs / "one").stem.split("-")[1])
    server, url = serve(runs)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            listed = {r["name"]: r for r in api.get("/api/runs").json()["runs"]}["one"]
            assert (listed["status"], listed["step"], listed["active"]) == ("interrupted", last, False)
            resumed = api.post("/api/training/resume", json={"run": "one", "steps": last + 3})
            assert resumed.status_code == 202, resumed.text
            wait_idle(api, timeout=HANG_S)
            assert status_of(api)["state"] == "finished"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(HANG_S)
    steps = steps_of(runs / "one")
    assert steps[-1] == last + 3 and steps == sorted(set(steps))  # one writer: no step twice, none missing
    assert steps == list(range(1, last + 4))


@pytest.mark.slow
def test_a_killed_server_takes_its_training_processes_with_it(tmp_path):
    runs = tmp_path / "runs"
    server, url = serve(runs)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            body = {"config": {**TINY, "steps": 100000, "checkpoint_every": 4}, "name": "two", "nproc": 2}
            assert api.post("/api/training/start", json=body).status_code == 202
            until(lambda: status_of(api)["step"] >= 5, "the two processes train")
            tree = descendants(server.pid)  # the launcher, torchrun and its two training processes
            assert len(tree) >= 4 and holder(runs / "two").pid in tree
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    until(lambda: not any(alive(pid) for pid in tree), "the training processes end with the server")
    assert holder(runs / "two") is None
    server, url = serve(runs)
    try:
        with httpx.Client(base_url=url, timeout=60) as api:
            listed = {r["name"]: r for r in api.get("/api/runs").json()["runs"]}["two"]
            assert listed["status"] in ("stopped", "interrupted") and not listed["active"], listed
            last = int(resolve_checkpoint(runs / "two").stem.split("-")[1])
            resumed = api.post("/api/training/resume", json={"run": "two", "steps": last + 3})
            assert resumed.status_code == 202, resumed.text
            wait_idle(api, timeout=HANG_S)
            assert status_of(api)["state"] == "finished"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(HANG_S)
    steps = steps_of(runs / "two")
    assert steps == sorted(set(steps)) and steps[-1] == last + 3  # no step written twice


def test_resume_refuses_while_a_terminals_trainer_lives_and_takes_over_once_it_is_killed(api, server):
    run = finish(api, steps=4, name="held")
    trainer = subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--resume", str(server.runs / run), "--steps",
                                "100000", "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until(lambda: holder(server.runs / run), "the terminal's trainer takes the run")
        refused = api.post("/api/training/resume", json={"run": run, "steps": 8})
        assert refused.status_code == 409 and f"process {trainer.pid}" in refused.json()["detail"]
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
    resumed = api.post("/api/training/resume", json={"run": run, "steps": 100000})
    assert resumed.status_code == 202, resumed.text
    api.post("/api/training/stop", params={"wait_s": 60})
    wait_idle(api)
    steps = steps_of(server.runs / run)
    assert steps == sorted(set(steps))
