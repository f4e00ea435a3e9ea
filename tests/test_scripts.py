"""The README's main-job command: `bash scripts/run.sh` sets up (idempotently) and serves the dashboard."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import httpx

from conftest import ROOT


def test_run_sh_starts_the_dashboard(tmp_path):
    process = subprocess.Popen(["bash", str(ROOT / "scripts" / "run.sh"), "--port", "0", "--runs-dir",
                                str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, url, seen = time.monotonic() + 180, None, []
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"dcgan dashboard: (http://\S+)", line)
            url = match.group(1).rstrip("/") if match else None
        assert url, "no dashboard URL printed:\n" + "".join(seen)
        assert url.startswith("http://127.0.0.1:"), url  # loopback unless told otherwise
        page = httpx.get(url + "/", timeout=30)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.get(url + "/api/status", timeout=30).json()["state"] == "idle"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
