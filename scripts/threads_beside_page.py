"""A dashboard training's speed with the dashboard's own page open in a browser on the same machine, at one and two
intra-op threads (docs/performance.md, "Threads").

    python scripts/threads_beside_page.py                 # the defaults, 45 s per setting, 2 rounds
    python scripts/threads_beside_page.py --seconds 90 --rounds 3

For each setting, a real `dcgan serve` (its thread count fixed with OMP_NUM_THREADS, so the governor stays out)
starts a training of the defaults through the API; with "page", Debian's chromium shows the dashboard meanwhile,
redrawing its curves and grids as a user would watch them. The row is the median of the run's logged images/s
over the last two thirds of the window. The settings take turns, round after round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SETTINGS = [("2", "page"), ("2", "no page"), ("1", "page"), ("1", "no page")]  # (OMP_NUM_THREADS, browser)


def serve(folder: Path, threads: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "dcgan", "serve", "--port", "0"], cwd=folder, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": threads}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    for line in process.stdout:
        if line.startswith("dcgan dashboard: "):
            return process, line.split()[-1].rstrip("/")
    raise SystemExit("the server printed no URL")


def images_per_s(folder: Path, since: float) -> float | None:
    # Complete lines only: the window may read the file while the run appends to it.
    rows = [json.loads(line) for path in folder.glob("runs/*/metrics.jsonl") for line in path.open()
            if line.endswith("\n")]
    speeds = [r["speed/images_per_s"] for r in rows if r["time"] >= since and "speed/images_per_s" in r]
    return statistics.median(speeds) if speeds else None


def measure(threads: str, browser: str, seconds: float, config: dict) -> float | None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server, url = serve(folder, threads)
        try:
            started = httpx.post(f"{url}/api/training/start", json={"config": config}, timeout=60)
            started.raise_for_status()
            deadline = time.monotonic() + 600
            while not list(folder.glob("runs/*/metrics.jsonl")):  # the window opens once the run trains
                if time.monotonic() > deadline:
                    status = httpx.get(f"{url}/api/status").text
                    raise SystemExit(f"the training logged nothing in 10 minutes: {status}")
                time.sleep(0.1)
            start = time.time()

            def train_for_the_window() -> None:
                # `seconds`, and on a machine so busy that no speed was logged after the warm-up by then, until
                # one is (a short window on a loaded machine would otherwise measure nothing)
                time.sleep(seconds)
                while images_per_s(folder, start + seconds / 3) is None and time.monotonic() < deadline:
                    time.sleep(0.2)

            deadline = time.monotonic() + 600
            if browser == "page":
                from playwright.sync_api import sync_playwright

                with sync_playwright() as p:
                    chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                    chromium.new_page(viewport={"width": 1400, "height": 900}).goto(f"{url}/")
                    train_for_the_window()
                    chromium.close()
            else:
                train_for_the_window()
            httpx.post(f"{url}/api/training/stop", params={"wait_s": 60}, timeout=90)
            return images_per_s(folder, start + seconds / 3)  # read once the run has written its last row
        finally:
            server.terminate()
            server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=45, help="seconds each setting trains (default: 45)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--width", type=int, help="G's and D's widths (default: the defaults')")
    args = parser.parse_args()
    config = {"seed": 0, "log_every": 10}
    if args.width:
        config.update(g_width=args.width, d_width=args.width)
    load_before = os.getloadavg()
    speeds: dict[tuple[str, str], list[float]] = {setting: [] for setting in SETTINGS}
    for _ in range(args.rounds):
        for setting in SETTINGS:
            speed = measure(*setting, args.seconds, config)
            if speed is not None:
                speeds[setting].append(speed)
    load_after = os.getloadavg()
    reference = statistics.median(speeds[("2", "no page")] or [float("nan")])
    print(f"{args.rounds} rounds of {args.seconds:g} s per setting; load average (1, 5, 15 min): before "
          f"{' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in load_after)}\n")
    print("| threads | dashboard page open | images/s (median of rounds) | rounds | vs 2 threads without the page |")
    print("|---|---|---|---|---|")
    for (threads, browser), values in speeds.items():
        median = statistics.median(values) if values else float("nan")
        print(f"| {threads} | {'yes' if browser == 'page' else 'no'} | {median:.0f} | "
              f"{', '.join(f'{v:.0f}' for v in values)} | {median / reference:.2f}x |")
    print(f"\nreproduce: python scripts/threads_beside_page.py --seconds {args.seconds:g} --rounds {args.rounds}"
          + (f" --width {args.width}" if args.width else ""))


if __name__ == "__main__":
    main()
