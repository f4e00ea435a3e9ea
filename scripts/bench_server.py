#!/usr/bin/env python
"""Benchmark the dashboard server while it trains: API latency, generation time, and training speed with 0..K
WebSocket clients connected.

    python scripts/bench_server.py                          # clients 0 1 10 50, 10 s each
    python scripts/bench_server.py --clients 0 10 --seconds 20 --requests 300

It starts a real `dcgan serve` (its own process, on a free loopback port, runs in a temporary folder), starts a
Fashion-MNIST training from the API, and for each client count: connects that many WebSocket clients that read
every message, measures GET /api/status latency (p50/p99) and training images/s from the step counter. Then it
measures GET /api/runs/<run>/generate.png?count=64 (p50/p99) while training and once training has stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx
from websockets.asyncio.client import connect

# The training: narrow networks (width 32) at 28x28, reporting every step (the most messages a client gets).
CONFIG = {"dataset": "fashion-mnist", "g_width": 32, "d_width": 32, "batch_size": 64, "steps": 10_000_000,
          "log_every": 1, "sample_every": 200, "checkpoint_every": 100_000, "tensorboard": False, "seed": 0}


class Clients:
    """`count` WebSocket clients reading every message, on an event loop in a thread of their own."""

    def __init__(self, url: str, count: int):
        self.url, self.count = url, count
        self.messages = 0
        self.connected = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.done: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)
        self.thread.start()
        if count:
            assert self.connected.wait(60), "the WebSocket clients did not connect"

    async def _main(self) -> None:
        self.done = asyncio.Event()
        ready = [0]

        async def client() -> None:
            async with connect(self.url, max_size=None) as ws:
                ready[0] += 1
                if ready[0] == self.count:
                    self.connected.set()
                reader = asyncio.ensure_future(self._read(ws))
                await self.done.wait()
                reader.cancel()

        await asyncio.gather(*(client() for _ in range(self.count)))

    async def _read(self, ws) -> None:
        async for _ in ws:
            self.messages += 1

    def close(self) -> None:
        if self.done is not None:
            self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(30)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def timed_gets(client: httpx.Client, path: str, count: int, params=None) -> list[float]:
    """Milliseconds of `count` sequential GETs (a page polls one request at a time)."""
    times = []
    for i in range(count):
        started = time.perf_counter()
        response = client.get(path, params=params(i) if callable(params) else params)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def step_rate(client: httpx.Client, seconds: float) -> tuple[float, int]:
    """Training steps per second over `seconds`, from the status step counter."""
    first = client.get("/api/status").json()
    time.sleep(seconds)
    last = client.get("/api/status").json()
    return (last["step"] - first["step"]) / (last["elapsed_s"] - first["elapsed_s"]), last["step"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[0, 1, 10, 50])
    parser.add_argument("--seconds", type=float, default=10, help="training measured per client count")
    parser.add_argument("--requests", type=int, default=200, help="status requests per client count")
    parser.add_argument("--generate", type=int, default=30, help="generate requests (64 images each)")
    parser.add_argument("--threads", type=int, help="torch threads of the server (OMP_NUM_THREADS); on a machine "
                        "shared with other work, 1 avoids the slowdown of threads waiting on each other")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))

    runs = tempfile.mkdtemp(prefix="bench-server-")
    server = subprocess.Popen([sys.executable, "-m", "dcgan", "serve", "--port", "0", "--runs-dir", runs],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url = re.search(r"(http://\S+?)/?$", server.stdout.readline().strip()).group(1)
        ws_url = url.replace("http://", "ws://") + "/api/live"
        with httpx.Client(base_url=url, timeout=120) as api:
            status = api.post("/api/training/start", json={"config": CONFIG, "name": "bench"}).json()
            print(f"server {url}, run {status['run']} on {status['device']}; torch threads in the server: "
                  f"{api.get('/api/system').json()['threads']}; load average {os.getloadavg()[0]:.1f}")
            while api.get("/api/status").json()["step"] < 50:  # past the first steps' warm-up
                time.sleep(0.2)
            rows = []
            for count in args.clients:
                clients = Clients(ws_url, count)
                try:
                    time.sleep(1)  # the hellos are out
                    latency = timed_gets(api, "/api/status", args.requests)
                    rate, step = step_rate(api, args.seconds)
                    seen = api.get("/api/status").json()["clients"]
                finally:
                    clients.close()
                images = rate * CONFIG["batch_size"]
                rows.append((count, seen, percentile(latency, 50), percentile(latency, 99), images, clients.messages))
                print(f"  clients {count:3d} (server saw {seen:3d}): status p50 {rows[-1][2]:6.1f} ms, p99 "
                      f"{rows[-1][3]:6.1f} ms; training {images:7.0f} images/s; {clients.messages} messages "
                      f"delivered (step {step})", flush=True)
            api.post("/api/training/checkpoint")
            busy = timed_gets(api, "/api/runs/bench/generate.png", args.generate,
                              params=lambda i: {"count": 64, "seed": i})
            api.post("/api/training/stop", params={"wait_s": 120})
            idle = timed_gets(api, "/api/runs/bench/generate.png", args.generate,
                              params=lambda i: {"count": 64, "seed": i})
    finally:
        server.terminate()
        server.wait(60)

    base = rows[0][4] if rows and rows[0][0] == 0 else None
    print("\nclients | status p50 ms | status p99 ms | training images/s | vs no clients")
    for count, _, p50, p99, images, _ in rows:
        ratio = f"{images / base:.2f}x" if base else "-"
        print(f"{count:7d} | {p50:13.1f} | {p99:13.1f} | {images:17.0f} | {ratio}")
    print(f"generate.png 64 images 28x28: p50 {percentile(idle, 50):.1f} ms, p99 {percentile(idle, 99):.1f} ms "
          f"(idle server); p50 {percentile(busy, 50):.1f} ms, p99 {percentile(busy, 99):.1f} ms (while training)")
    print(f"reproduce: python scripts/bench_server.py {shlex.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
