"""The README's main-job command: `bash scripts/run.sh` sets up (idempotently) and serves the dashboard."""

from __future__ import annotations

import signal
import subprocess

import httpx

from conftest import ROOT, read_dashboard_url


def test_run_sh_starts_the_dashboard(tmp_path):
    process = subprocess.Popen(["bash", str(ROOT / "scripts" / "run.sh"), "--port", "0", "--runs-dir",
                                str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, seen = read_dashboard_url(process, timeout_s=180)  # set-up may have work to do first
        assert url, "no dashboard URL printed:\n" + "".join(seen)
        url = url.rstrip("/")
        assert url.startswith("http://127.0.0.1:"), url  # loopback unless told otherwise
        page = httpx.get(url + "/", timeout=30)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.get(url + "/api/status", timeout=30).json()["state"] == "idle"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
