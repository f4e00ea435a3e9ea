"""The README's main-job command: `bash scripts/run.sh` sets up (idempotently) and serves the dashboard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

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


def test_set_up_on_a_python_older_than_3_10_is_one_line_not_a_traceback(tmp_path):
    """setup.sh checks the Python it makes .venv with; an old one (Debian 11 has 3.9) is named with what to do,
    where it raised an AssertionError with its traceback."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup.sh").write_text((ROOT / "scripts" / "setup.sh").read_text())
    old = tmp_path / "python3.9"  # the real interpreter, telling its code it is 3.9
    old.write_text(f"#!{sys.executable}\n"
                   "import sys\n"
                   "sys.version_info, sys.version = (3, 9, 18, 'final', 0), '3.9.18 (an old one)'\n"
                   "assert sys.argv[1] == '-c'\n"
                   "exec(compile(sys.argv[2], '<string>', 'exec'))\n")
    old.chmod(0o755)
    done = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], env={**os.environ, "PYTHON": str(old)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"setup: dcgan needs Python >= 3.10 and {sys.executable} is 3.9.18; name a newer one: PYTHON=python3.11 "
        "bash scripts/setup.sh"]
    assert not (tmp_path / ".venv").exists()
