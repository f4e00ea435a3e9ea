"""The dashboard pictures of README.md and docs/dashboard.md, taken of a real trained run.

    dcgan train --seed 0 --run-dir runs/quickstart && dcgan eval runs/quickstart --features classifier
    python scripts/dashboard_screenshots.py runs/quickstart            # docs/img/dashboard.png, dashboard-phone.png

The run folder is copied into a temporary runs folder (so the page shows it alone), `dcgan serve` serves that
folder on a free loopback port, and Debian's Chromium, driven by Playwright, opens the page at a laptop's size and
at a phone's, waits until the run's curves, its last fixed-noise grid and its evaluation are drawn, and saves
each view as a PNG.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
VIEWS = {"dashboard.png": (1400, 1500), "dashboard-phone.png": (390, 844)}  # the laptop view down to the grids


def serve(runs: Path) -> tuple[subprocess.Popen, str]:
    """`dcgan serve --port 0` over `runs`, and the URL it prints."""
    process = subprocess.Popen([sys.executable, "-m", "dcgan", "serve", "--port", "0", "--runs-dir", str(runs)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=runs.parent)
    deadline = time.monotonic() + 120
    for line in process.stdout:
        if "http://" in line:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # a full pipe never blocks it
            return process, line[line.index("http://"):].split()[0]
        if time.monotonic() > deadline:
            break
    process.kill()
    raise SystemExit("dcgan serve did not print its URL")


def shoot(url: str, run: str, out: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for name, (width, height) in VIEWS.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_function(f"document.querySelector('#view-name').textContent === {run!r}")
            page.wait_for_function("Number(document.querySelector('#chart-loss').dataset.points) > 0")
            page.wait_for_selector("#sample-img:not([hidden])")
            page.wait_for_function("document.querySelector('#sample-img').complete")
            page.wait_for_function("document.querySelector('#eval-table tbody').children.length > 0"
                                   " || !document.querySelector('#eval-empty').hidden")
            page.evaluate("document.activeElement?.blur(); window.scrollTo(0, 0)")
            page.wait_for_timeout(500)  # a frame for the charts to finish drawing
            page.screenshot(path=str(out / name))
            print(f"wrote {out / name} ({width}x{height})")
            page.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a trained run folder (ideally evaluated: `dcgan eval RUN`)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img")
    args = parser.parse_args()
    if not (args.run / "config.json").is_file():
        raise SystemExit(f"{args.run} is not a run folder (no config.json)")
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        shutil.copytree(args.run, runs / args.run.resolve().name,
                        ignore=shutil.ignore_patterns("events.out.tfevents.*"))
        process, url = serve(runs)
        try:
            args.out.mkdir(parents=True, exist_ok=True)
            shoot(url, args.run.resolve().name, args.out)
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
