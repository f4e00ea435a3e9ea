"""Training on several local processes: `dcgan train --nproc N ...` in a subprocess, followed through its run
folder.

Several processes cannot share the server's process (torchrun launches them), so the server cannot subscribe to
their events. Rank 0 writes every event into the run folder anyway (metrics.jsonl, log.txt, status.json,
samples/, checkpoints/), so a follower thread polls those files and turns what is new back into the same events
an in-process trainer emits: the manager, the WebSocket and the page treat both runs alike.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from dcgan.config import TrainConfig, field_type
from dcgan.events import CheckpointSaved, Event, Log, SampleGrid, StatusChanged
from dcgan.errors import RunFolderError
from dcgan.lifeline import descendants, parent_env
from dcgan.rundir import (CHECKPOINTS, CONSOLE_FILE, LOG_FILE, METRICS, RunFolder, parse_log_line, parse_rows,
                          read_appended, row_event, step_of)

POLL_S = 0.2  # how often the run folder is read: fast enough for a live chart, idle for the disk
STOP_GRACE_S = 120  # after a stop request, how long the processes get to finish their step and checkpoint
# Options the launcher sets, not the user: torchrun gives world_size (a start request's nproc, the page's
# "processes" box), so it is never passed as a flag and forms leave it out.
LAUNCHER_OPTIONS = ("world_size",)


def train_command(nproc: int, run_dir: Path, config: dict[str, Any] | None = None,
                  resume: dict[str, Any] | None = None) -> list[str]:
    """argv of `dcgan train --nproc N` for a new run (its config options as flags) or a resume. The server has
    held N to its own limit (dcgan serve --max-processes) already: the launcher is told so with --force-nproc."""
    argv = [sys.executable, "-m", "dcgan", "train", "--nproc", str(nproc), "--force-nproc", "--no-progress"]
    if resume is not None:
        argv += ["--resume", str(run_dir)]
        if resume.get("checkpoint"):
            argv += ["--checkpoint", str(run_dir / CHECKPOINTS / resume["checkpoint"])]
        values = {k: v for k, v in resume.items() if k in ("steps", "epochs", "device")}
    else:
        argv += ["--run-dir", str(run_dir)]
        values = config or {}
    return argv + config_flags(values)


def config_flags(values: dict[str, Any]) -> list[str]:
    """Config options as `dcgan train` flags; None means the default, and LAUNCHER_OPTIONS are torchrun's to set."""
    fields = {f.name: f for f in TrainConfig.__dataclass_fields__.values()}
    flags = []
    for name, value in values.items():
        if value is None or name in LAUNCHER_OPTIONS:
            continue
        flag = "--" + name.replace("_", "-")
        if field_type(fields[name])[0] is bool:
            flags.append(flag if value else "--no-" + name.replace("_", "-"))
        else:
            flags.append(f"{flag}={value}")  # one word: a value that starts with '-' is not read as a flag
    return flags


class ProcessRun:
    """One `dcgan train --nproc N` subprocess and the thread that follows its run folder.

    `on_event` gets the events read back from the files (on the follower thread, like a trainer's subscriber);
    `on_info` the run's totals from status.json, and once it has set up, its history before this session as
    `read_earlier(run_dir, until_step)` reads it (LiveState.read_earlier: on the follower thread, it streams the
    run's files); `on_exit(code, console_tail)` once, after the last events.
    """

    def __init__(self, argv: list[str], run_dir: Path, nproc: int, on_event: Callable[[Event], None],
                 read_earlier: Callable[[Path, int], Any], on_info: Callable[[dict[str, Any]], None],
                 on_exit: Callable[[int, str], None]):
        self.argv = argv
        self.run_dir = run_dir
        self.folder = RunFolder(run_dir)
        self.nproc = nproc
        self.on_event, self.read_earlier, self.on_info, self.on_exit = on_event, read_earlier, on_info, on_exit
        self.process: subprocess.Popen | None = None
        self.stop_requested = False
        self._launched = 0.0
        self._metrics_at = 0
        self._log_at = 0
        self._status: tuple | None = None
        self._samples_at = -1  # the newest sample step seen: a grid after it is new
        self._checkpoints: set[str] = set()
        self._live = False  # the run has announced itself (status.json of this session): tail its metrics

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_txt = self.folder.file(LOG_FILE)
        self._log_at = log_txt.stat().st_size if log_txt.exists() else 0  # a resumed run's old lines are history
        self._samples_at = max(self.folder.sample_steps(), default=-1)
        self._checkpoints = {p.name for p in self.folder.checkpoint_files()}
        console = open(self.folder.file(CONSOLE_FILE), "ab")
        self._launched = time.time()
        # Its own session, so a Ctrl-C meant for the server does not reach it: the server stops it gracefully.
        # It ends with the server all the same, however the server ends (dcgan.lifeline: kill -9 included).
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **parent_env()}
        self.process = subprocess.Popen(self.argv, stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, env=env)
        console.close()
        threading.Thread(target=self._follow, name="dcgan-follow", daemon=True).start()

    def stop(self) -> None:
        """Graceful: SIGINT, as a Ctrl-C: the trainer finishes its step and writes a checkpoint (a `--nproc`
        launcher passes it on to each training process, dcgan.distributed.run_torchrun)."""
        self.stop_requested = True
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGINT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # Found first: torchrun runs in a session of its own (dcgan.distributed.run_torchrun), so the group
            # does not reach it, and once the launcher is dead its processes are no longer found below it.
            below = descendants(self.process.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            for pid in below:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    # --- The follower thread ------------------------------------------------------------------------------

    def _follow(self) -> None:
        stopped_at = None
        while self.process.poll() is None:
            with contextlib.suppress(RunFolderError):  # a link planted in the folder is not followed
                self._poll()
            if self.stop_requested and stopped_at is None:
                stopped_at = time.monotonic()
            if stopped_at is not None and time.monotonic() - stopped_at > STOP_GRACE_S:
                self.kill()
            time.sleep(POLL_S)
        with contextlib.suppress(RunFolderError):
            self._poll()  # what the processes wrote last
        self.on_exit(self.process.returncode, console_tail(self.folder.file(CONSOLE_FILE)))

    def _poll(self) -> None:
        self._read_log()
        status = self.folder.status()
        if not self._live:
            if not status or status.get("updated", 0) < self._launched - 1:
                return  # still starting (or the status is a resumed run's old one)
            self._live = True
            self._announce()
        self._read_status(status)
        self._read_metrics()
        self._read_files()

    def _announce(self) -> None:
        """The run is set up: its metrics so far (a resumed run's earlier rows) become the history."""
        path = self.folder.file(METRICS)
        earlier = self.read_earlier(self.run_dir, self._samples_at)
        self._metrics_at = path.stat().st_size if path.exists() else 0
        self.on_info({"earlier": earlier})

    def _read_status(self, status: dict[str, Any] | None) -> None:
        if not status:
            return
        # Not the step: status.json moves on with each checkpoint, and the live step comes from the metrics (an
        # event per checkpoint would set the shown step back to the checkpoint's until the next row).
        key = (status.get("status"), status.get("message"), status.get("updated"))
        if key == self._status:
            return
        self._status = key
        self.on_info({k: status.get(k) for k in ("total_steps", "steps_per_epoch", "device")})
        self.on_event(StatusChanged(status.get("status"), int(status.get("step") or 0), status.get("message", "")))

    def _read_metrics(self) -> None:
        lines, self._metrics_at = read_appended(self.folder.file(METRICS), self._metrics_at)
        for row in parse_rows(lines):
            event = row_event(row)
            if event is not None:
                self.on_event(event)

    def _read_log(self) -> None:
        lines, self._log_at = read_appended(self.folder.file(LOG_FILE), self._log_at)
        for line in lines:
            self.on_event(Log(*parse_log_line(line)))

    def _read_files(self) -> None:
        for step in sorted(self.folder.sample_steps()):
            if step > self._samples_at:
                self._samples_at = step
                # Only the step is needed: clients load the PNG the run folder already has.
                self.on_event(SampleGrid(step, 0, None, 0))
        for path in self.folder.checkpoint_files():
            if path.name not in self._checkpoints:
                self._checkpoints.add(path.name)
                self.on_event(CheckpointSaved(step_of(path), str(path)))


def console_tail(path: Path, lines: int = 20) -> str:
    """The console's last lines; the file streams past, so days of output are never held at once."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(collections.deque(f, maxlen=lines)).rstrip("\n")
    except FileNotFoundError:
        return ""
