"""The live WebSocket (issue 3): history on connect, live events, heartbeats, many clients, and a client that
never reads cannot slow training."""

from __future__ import annotations

import asyncio
import concurrent.futures
import base64
import json
import math
import os
import socket
import time
import tracemalloc

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from dcgan.events import Log
from dcgan.server import create_app, schemas
from dcgan.server.hub import Hub
from dcgan.server.livestate import LiveState
from dcgan.server.routes.live import POLICY_VIOLATION, SENT_BURST
from dcgan.server.runs import SampleIndex
from dcgan.server.schemas import Heartbeat, StatusMessage, Status
from conftest import until, write_long_metrics

from .conftest import Live, finish, start, wait_status


def test_a_new_client_gets_the_whole_history_first(api, server):
    run = finish(api, steps=12)
    with Live(server.ws_url) as live:
        hello = live.wait_for(lambda m: m["type"] == "hello")
    assert hello["status"]["run"] == run and hello["status"]["state"] == "finished"
    assert hello["history"]["step"] == list(range(1, 13))
    assert {"loss/D", "loss/G", "D/real", "D/fake"} <= set(hello["history"]["series"])
    assert hello["sample_steps"] == {"count": 4, "first": 0, "last": 12, "steps": [0, 5, 10, 12], "every": 1,
                                     "thinned": False, "limit": 1000}
    assert any("device: cpu" in line["message"] for line in hello["log"])


def test_a_resumed_runs_earlier_history_streams_into_bounded_memory(tmp_path):
    """A resumed run's metrics.jsonl of 60 000 logged steps (an epoch end every 5, a live change every 1 000): the
    live state reads it as it streams past, keeping at most history_points points and as many marks of each kind,
    in a few MiB (not the ~100 MiB of Python rows the whole file makes); a client's hello gets the whole curve,
    each point the mean of its steps."""
    row = {"epoch": 0, "time": 1.7e9, "D/fake": 0.07, "D/fake_after_G": 0.69, "D/fake_before_G": 0.07,
           "D/real": 0.69, "loss/G": 2.85, "speed/images_per_s": 1791.3, "lr/G": 0.001, "lr/D": 0.001,
           "loss/ratio": 5.51}
    marks = {5: {"event": "epoch"}, 1000: {"event": "hparam", "field": "lr_d", "old": 1, "new": 2}}
    write_long_metrics(tmp_path / "metrics.jsonl", row, marks)
    live = LiveState(history_points=2000, log_lines=10)
    tracemalloc.start()
    try:
        history, samples = live.read_earlier(tmp_path, until_step=60_000)
        held = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(history.points) < 2000
    assert [len(history.marks[kind]) for kind in ("epoch", "hparam", "other")] == [2000, 60, 0]
    assert held < 16 * 2**20, f"{held / 2**20:.0f} MiB held to read the history"
    live.restore((history, samples))
    hello = live.history.metrics()
    assert len(hello.step) <= 2000 and hello.step[-1] == 60_000 and hello.downsampled
    assert hello.step[0] == 32 and hello.series["loss/D"][0] == sum(range(1, 33)) / 32  # 32 steps a point
    assert hello.epochs[-1].step == 60_000 and len(hello.epochs) == 2000 and len(hello.hparams) == 60


def test_the_time_left_waits_for_the_warm_up_as_the_console_does():
    """The first steps are slow (warm-up, early grids): an ETA from their speed said about 20 minutes for a
    10-minute run (found by the dashboard audit). None until 50 steps of this session, then from the speed;
    a resumed session counts from its own first step."""
    from dcgan.events import RunStarted, StatusChanged, StepMetrics

    live = LiveState(history_points=100, log_lines=10)
    live.reset("r", nproc=1, images_per_step=16, step=1000, total_steps=5000)
    live.apply(RunStarted("r", {}, "cpu", 1000, 5000, 3750, resumed=True))
    live.apply(StatusChanged("running", 1000))
    live.apply(StepMetrics(1040, 0, {"speed/images_per_s": 160.0}))
    assert live.current(0).eta_s is None
    live.apply(StepMetrics(1050, 0, {"speed/images_per_s": 160.0}))
    assert live.current(0).eta_s == pytest.approx((5000 - 1050) / 10)


def test_the_live_sample_steps_stay_bounded_however_many_grids_a_run_saves():
    """The live state's index of a run's grids (what a client's hello lists): a million grids, and it holds at
    most MAX_SAMPLE_STEPS steps, evenly spread, with the exact count and both ends."""
    live = LiveState(history_points=100, log_lines=10)
    for step in range(1, 1_000_001):
        live.samples.add(step)
    live.samples.add(999_999)  # an earlier step again (a grid written twice) changes nothing
    answer = live.samples.answer()
    assert (answer.count, answer.first, answer.last, answer.thinned) == (1_000_000, 1, 1_000_000, True)
    assert len(live.samples.kept) < schemas.MAX_SAMPLE_STEPS and len(answer.steps) <= schemas.MAX_SAMPLE_STEPS
    gaps = {b - a for a, b in zip(answer.steps, answer.steps[1:-1])}
    assert gaps == {1024} and answer.steps[-1] == 1_000_000  # every 1024th grid from the first, and the last
    assert answer.every == 1024


def test_the_sample_steps_say_their_stride_so_a_client_can_go_on_thinning_as_the_server_does():
    """However many grids a run saved, its sample steps are the i-th grids with i a multiple of `every` and the
    last, `every` the smallest power of 2 leaving fewer than the limit of such grids (as schemas.SampleSteps
    documents it), so a client can go on adding a live run's grids as the server does (the page: tests/e2e)."""
    limit = 8  # small, to cross many doublings cheaply
    for count in range(40):
        steps = [10 * i for i in range(count)]
        answer = SampleIndex(steps, limit).answer()
        every = next(k for k in (2**p for p in range(10)) if math.ceil(count / k) < limit)
        assert answer.every == every, count
        assert answer.steps == sorted({*steps[::every], *steps[-1:]}), count
        assert answer.thinned == (len(answer.steps) < count) and answer.count == count
        assert answer.limit == limit  # the client thins to the same limit


def test_live_events_status_metrics_samples_log_checkpoint_heartbeat(api, server):
    with Live(server.ws_url) as live:
        live.wait_for(lambda m: m["type"] == "hello")
        run = start(api, steps=100000)["run"]
        live.wait_for(lambda m: m["type"] == "hello" and m["status"]["run"] == run)  # a new run: redraw
        metrics = live.wait_for(lambda m: m["type"] == "metrics" and m["step"] >= 3)
        assert metrics["run"] == run and metrics["values"]["loss/D"] > 0
        sample = live.wait_for(lambda m: m["type"] == "sample" and m["step"] >= 5)
        assert api.get(sample["url"]).content[:8] == b"\x89PNG\r\n\x1a\n"
        live.wait_for(lambda m: m["type"] == "status" and m["status"]["state"] == "running")
        live.wait_for(lambda m: m["type"] == "heartbeat")
        api.post("/api/training/stop", params={"wait_s": 60})
        checkpoint = live.wait_for(lambda m: m["type"] == "checkpoint")
        assert checkpoint["checkpoint"].startswith("step-")
        live.wait_for(lambda m: m["type"] == "status" and m["status"]["state"] == "stopped")
        assert any("stopped at step" in m["status"]["message"] for m in live.of("status"))
        steps = [m["step"] for m in live.of("metrics")]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)


def test_a_live_log_line_names_its_run(api, server):
    """A page that shows another run's log.txt beside the live run can tell the live run's lines by their run."""
    run = start(api, steps=100000)["run"]
    wait_status(api, lambda s: s["state"] == "running")
    with Live(server.ws_url) as live:
        live.wait_for(lambda m: m["type"] == "hello" and m["status"]["run"] == run)
        server.manager.trainer.events.emit(Log("info", "a line of the live run"))  # as the trainer logs one
        line = live.wait_for(lambda m: m["type"] == "log" and m["line"]["message"] == "a line of the live run")
    assert line["run"] == run


def test_a_client_that_keeps_sending_is_closed_and_one_that_sends_a_little_is_fed(server):
    """What a client sends is ignored, but reading it costs the event loop, which also feeds every client and hands
    the trainer's events over: a client that floods the feed is closed (1008), one that sends a keep-alive now and
    then is not."""
    with connect(server.ws_url, max_size=None) as calm, connect(server.ws_url, max_size=None) as flood:
        for ws in (calm, flood):
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        for _ in range(3):
            calm.send("ping")
        with pytest.raises(ConnectionClosed):
            for _ in range(SENT_BURST + 1000):
                flood.send("x" * 100)
            deadline = time.monotonic() + 10  # the feed's messages until the close (heartbeats every 0.5 s)
            while time.monotonic() < deadline:
                flood.recv(timeout=10)
        assert flood.close_code == POLICY_VIOLATION and "takes no messages" in flood.close_reason
        until(lambda: json.loads(calm.recv(timeout=30))["type"] == "heartbeat", "a heartbeat", 30)


def test_many_clients_are_fed_at_once(api, server):
    clients = [Live(server.ws_url) for _ in range(20)]
    try:
        for c in clients:
            c.wait_for(lambda m: m["type"] == "hello")
        assert api.get("/api/status").json()["clients"] >= 20
        start(api, steps=100000)
        for c in clients:
            c.wait_for(lambda m: m["type"] == "metrics" and m["step"] >= 5)
    finally:
        for c in clients:
            c.close()


def test_live_clients_are_bounded_and_one_more_is_told_why(tmp_path):
    with TestClient(create_app(tmp_path, max_clients=2)) as client:
        with client.websocket_connect("/api/live") as first, client.websocket_connect("/ws") as second:
            assert first.receive_json()["type"] == "hello" and second.receive_json()["type"] == "connected"
            with client.websocket_connect("/api/live") as third, pytest.raises(WebSocketDisconnect) as refused:
                third.receive_json()
            assert refused.value.code == 1013  # try again later
            assert refused.value.reason == "this server already feeds 2 live clients; close one and try again"
            assert client.get("/api/status").json()["clients"] == 2
        with client.websocket_connect("/api/live") as later:  # the first two left: there is room again
            assert later.receive_json()["type"] == "hello"


def stuck_client(url: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads, with a tiny receive buffer."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /api/live HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    assert sock.recv(12) == b"HTTP/1.1 101"
    return sock


def test_a_client_that_never_reads_does_not_slow_training(api, server):
    stuck = stuck_client(server.url)
    try:
        with Live(server.ws_url) as live:
            start(api, steps=100000)
            first = wait_status(api, lambda s: s["step"] >= 10)
            # Training goes on and the reading client is fed, step after step, while the other reads nothing
            # (this machine's speed varies too much to compare rates here; scripts/bench_server.py measures them).
            status = wait_status(api, lambda s: s["step"] >= first["step"] + 30)
            latest = live.wait_for(lambda m: m["type"] == "metrics" and m["step"] >= status["step"])
            steps = [m["step"] for m in live.of("metrics") if m["step"] > first["step"]]
            assert steps == list(range(first["step"] + 1, latest["step"] + 1))
            queued = max(len(c.queue) for c in server.manager.hub.clients)
            assert queued <= server.manager.settings.client_queue  # the stuck client's backlog is bounded
    finally:
        stuck.close()


def test_hub_queues_are_bounded_and_coalesce():
    sent = []

    async def scenario():
        hub = Hub(lambda: StatusMessage(status=Status(state="idle")), capacity=8, send_timeout_s=0.2, heartbeat_s=1)
        never = asyncio.Event()

        async def slow_send(text):
            sent.append(text)
            await never.wait()  # a client that never takes the message

        async def receive():
            await never.wait()

        task = asyncio.create_task(hub.serve(slow_send, receive))
        await asyncio.sleep(0.01)
        client = next(iter(hub.clients))
        for i in range(100):
            hub.publish(Heartbeat(time=i), key="heartbeat")
        assert len(client.queue) == 1  # coalesced: only the newest heartbeat waits
        for i in range(100):
            hub.publish(Heartbeat(time=i))
        assert len(client.queue) <= 8 and hub.resyncs > 0  # overflow: replaced by one fresh hello
        await asyncio.wait_for(task, 2)  # the send timed out: the client is let go
        assert hub.dropped == 1 and not hub.clients

    # Its own thread: a browser test's Playwright may already run an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()
    # The first message of every connection is the hello (here a stand-in status).
    assert len(sent) == 1 and '"type":"status"' in sent[0]


def test_a_misspelt_server_setting_is_refused_not_ignored(tmp_path):
    with pytest.raises(ValidationError, match="max_client"):
        create_app(tmp_path, max_client=2)
