"""Browser tests of the dashboard: the real `dcgan serve` in a subprocess over a temporary runs folder, real tiny
training on real Fashion-MNIST, and Debian's Chromium driven by Python Playwright.

One server serves the whole session (it caches the dataset after the first run); each test leaves it idle.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import read_dashboard_url

import playwright.sync_api as playwright  # installed by the test command, never skipped

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# Small and fast on a 2-core CPU: ~30 steps/s, a grid every 10 steps, metrics every 2.
TINY = {"dataset": "fashion-mnist", "g_width": 8, "d_width": 8, "batch_size": 32, "log_every": 2,
        "sample_every": 10, "checkpoint_every": 50, "seed": 1, "tensorboard": False}


class Server:
    """The running `dcgan serve` and a small JSON client for arranging state the page then shows."""

    def __init__(self, url: str, runs_dir: Path):
        self.url = url.rstrip("/")
        self.runs_dir = runs_dir

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path} -> {e.code}: {e.read().decode()}") from None

    def status(self) -> dict:
        return self.call("GET", "/api/status")

    def wait(self, predicate, timeout: float = 60, what: str = "a condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; status: {self.status()}")

    def idle(self) -> None:
        """Stop whatever trains, so the next test can start one (one training per server)."""
        state = self.status()["state"]
        if state in ("starting", "running", "paused"):
            self.wait(lambda: self.status()["state"] != "starting", what="the start to finish")
            self.call("POST", "/api/training/stop?wait_s=60", timeout=90)
        self.wait(lambda: self.status()["state"] not in ("starting", "running", "paused"), what="the server idle")

    def start(self, body: dict) -> dict:
        """POST /api/training/start once the server takes it: right after a multi-process run ends, its status
        can say finished while the launcher still winds down (409 for a moment)."""
        end = time.monotonic() + 30
        while True:
            try:
                return self.call("POST", "/api/training/start", body)
            except AssertionError as e:
                if "-> 409" not in str(e) or time.monotonic() > end:
                    raise
                time.sleep(0.5)

    def train(self, name: str, steps: int, **options) -> dict:
        """A finished tiny run made through the API (for tests about browsing, generating and forking)."""
        self.idle()
        self.start({"name": name, "config": {**TINY, "steps": steps, **options}})
        self.wait(lambda: self.status()["state"] in ("finished", "failed", "stopped"), timeout=120,
                  what=f"{name} to finish")
        assert self.status()["state"] == "finished", self.status()
        return self.call("GET", f"/api/runs/{name}")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("runs")) as served:
        yield served


@contextlib.contextmanager
def serving(runs: Path):
    """A real `dcgan serve` of a runs folder on a free port, until the block ends."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "dcgan", "serve", "--port", "0", "--runs-dir", str(runs)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               cwd=runs.parent)  # its ./data and caches stay out of the repository
    url, lines = read_dashboard_url(process)
    assert url, f"dcgan serve did not print its URL:\n{''.join(lines)}"
    # Keep reading its output so a full pipe never blocks the server.
    import threading

    threading.Thread(target=lambda: [lines.append(line) for line in process.stdout], daemon=True).start()
    served = Server(url, runs)
    try:
        served.wait(lambda: served.status(), what="the server to answer")
        yield served
    finally:  # also when the test fails: a server left behind would hold a core for the rest of the suite
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page with what it logged: console errors and uncaught exceptions fail the test that opened it."""

    def __init__(self, browser, server: Server, width: int, height: int):
        self.context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        self.page = self.context.new_page()
        self.server = server
        self.errors: list[str] = []
        self.expected_statuses: set[int] = set()  # HTTP errors a test provokes on purpose (e.g. 422)
        self.expected_messages: list[str] = []  # console errors it provokes on purpose, by a part of their text
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.set_default_timeout(30_000)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        status = re.search(r"status of (\d+)", message.text)
        if status and int(status.group(1)) in self.expected_statuses:
            return
        if any(part in message.text for part in self.expected_messages):
            return
        self.errors.append(f"console: {message.text} ({where})")

    def open(self, path: str = "/"):
        self.page.goto(self.server.url + path)
        self.page.wait_for_selector("body[data-ready='1']")
        self.page.wait_for_selector("#conn[data-state='live']")
        return self.page


@pytest.fixture
def open_page(browser, server):
    pages: list[Page] = []

    def make(width: int = 1280, height: int = 900) -> Page:
        made = Page(browser, server, width, height)
        pages.append(made)
        return made

    yield make
    for made in pages:
        errors = list(made.errors)
        made.context.close()
        assert not errors, "the page logged errors:\n" + "\n".join(errors)
    server.idle()


def number(text: str) -> int:
    """The first integer in a text such as '1,204 / 3,000'."""
    return int(re.search(r"[\d,]+", text).group(0).replace(",", ""))


def save_screenshot(page, tmp_path: Path, name: str, full_page: bool = False) -> Path:
    """A screenshot in the test's folder, to look at when it fails (docs/img's pictures are of a real trained
    run: scripts/dashboard_screenshots.py)."""
    page.evaluate("document.activeElement?.blur(); window.scrollTo(0, 0)")
    page.wait_for_timeout(300)  # a frame for the charts to redraw
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=full_page)
    return path
