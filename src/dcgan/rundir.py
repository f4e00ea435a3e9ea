"""The run folder's safety: paths that stay inside it, and one writer at a time.

- No links out. Every file the server or a trainer reads or writes inside a run folder is reached through
  `inside(run_dir, *parts)`: the path is resolved (links followed) and must stay inside the run folder, so a link
  planted in it (`samples/step-0009999.png -> /some/secret`, `log.txt -> /etc/passwd`) is refused, never followed.
  A link that stays inside the folder is fine.
- One writer per run. A trainer (rank 0 of several processes) holds `trainer.lock` in its run folder: an flock
  that the kernel releases when the process ends however it ends (kill -9 included), so a lock is never left stale;
  the file records who holds it (PID, host, start time) for the message that refuses a second writer.

Issue 19 moves the rest of the run folder's layout (file names, formats) here.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dcgan.errors import RunBusyError, RunFolderError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are then not locked
    fcntl = None

LOCK_FILE = "trainer.lock"
# Folders another tool owns inside a run: Weights & Biases keeps its offline run there and links its debug logs
# to its own cache. dcgan never reads or writes through them, so their links are W&B's business, not a way out.
TOOL_FOLDERS = ("wandb",)


def inside(run_dir: str | os.PathLike, *parts: str) -> Path:
    """The resolved path of `parts` in a run folder; a RunFolderError when a link leads it outside."""
    root = Path(run_dir).resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise RunFolderError(f"{Path(*parts)} in run {root.name} leads outside the run folder (a link); a run "
                             f"folder's files stay inside it: remove the link")
    return path


def links_out(run_dir: str | os.PathLike) -> list[str]:
    """Every link in a run folder that leads outside it (or nowhere), as paths relative to the folder."""
    root = Path(run_dir).resolve()
    found = []
    for folder, dirs, files in os.walk(root):  # does not descend into linked folders: each is checked as a link
        if Path(folder) == root:
            dirs[:] = [d for d in dirs if d not in TOOL_FOLDERS or Path(folder, d).is_symlink()]
        for name in dirs + files:
            path = Path(folder, name)
            if not path.is_symlink():
                continue
            target = path.resolve()
            if not target.exists() or (target != root and root not in target.parents):
                found.append(str(path.relative_to(root)))
    return sorted(found)


def check_links(run_dir: str | os.PathLike) -> None:
    """Refuse a run folder that holds links leading outside it: a trainer would write through them."""
    found = links_out(run_dir)
    if found:
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise RunFolderError(f"run {Path(run_dir).name} holds a link that leads outside its folder ({found[0]}"
                             f"{more}); a trainer would write through it: remove it and try again")


# --- One writer per run ---------------------------------------------------------------------------------------

@dataclass
class Holder:
    """Who holds a run's lock."""

    pid: int
    host: str
    started: float  # Unix time

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"process {self.pid} on {self.host}, since {when}"


class RunLock:
    """The lock a trainer holds on its run folder while it writes there. `acquire()` raises RunBusyError while a
    live process holds it; a lock whose process has ended is simply taken over."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._file = None

    def acquire(self) -> "RunLock":
        if fcntl is None or self._file is not None:
            return self
        # O_NOFOLLOW: the lock file itself may not be a link; the descriptor is not inherited by subprocesses.
        fd = os.open(inside(self.run_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        file = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(file)
            file.close()
            raise RunBusyError(busy_message(self.run_dir, holder)) from None
        file.seek(0)
        file.truncate()
        file.write(json.dumps(asdict(Holder(os.getpid(), socket.gethostname(), time.time()))))
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None


def holder(run_dir: str | os.PathLike) -> Holder | None:
    """The live process holding a run's lock, or None (no lock file, or its process has ended)."""
    if fcntl is None:
        return None
    try:
        fd = os.open(inside(run_dir, LOCK_FILE), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except (FileNotFoundError, RunFolderError, OSError):
        return None
    with os.fdopen(fd, "r", encoding="utf-8") as file:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(file) or Holder(0, "?", 0.0)
        return None  # free: the descriptor's close releases the probe


def refuse_if_busy(run_dir: str | os.PathLike) -> None:
    """RunBusyError when a live trainer writes the run folder (resume, fork-into and a second start call it)."""
    found = holder(run_dir)
    if found is not None:
        raise RunBusyError(busy_message(run_dir, found))


def busy_message(run_dir: str | os.PathLike, found: Holder | None) -> str:
    who = found.describe() if found is not None else "another process"
    return (f"run {Path(run_dir).name} is being trained by {who}; one trainer writes a run at a time: stop that "
            f"one first (its lock is {LOCK_FILE} in the run folder and ends with the process)")


def _read_holder(file) -> Holder | None:
    try:
        file.seek(0)
        data = json.loads(file.read() or "null")
        return Holder(int(data["pid"]), str(data["host"]), float(data["started"]))
    except (ValueError, TypeError, KeyError, OSError):
        return None
