"""Training processes that end with the process that started them.

A dashboard server killed with `kill -9` cannot stop its trainings, and torchrun's training processes run in
sessions of their own, so no process group reaches them. Linux's parent-death signal does: each process in the
chain server -> `dcgan train --nproc N` -> torchrun -> training processes asks the kernel for SIGTERM when its
parent dies, and SIGTERM stops a trainer as Ctrl-C does (after its step, with a checkpoint). Elsewhere these are
no-ops: the run lock (dcgan.rundir) still keeps a second trainer out of a run folder whose first lives on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_ENV = "DCGAN_PARENT_PID"  # set by a parent that wants its `dcgan` child to end with it

_prctl = None
if sys.platform.startswith("linux"):
    try:
        _prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        _prctl = None


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` to this process when its parent ends; True where that is supported."""
    return _prctl is not None and _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def parent_env() -> dict[str, str]:
    """Environment for a `dcgan` child that should end with this process (see honour_parent_env)."""
    return {PARENT_ENV: str(os.getpid())}


def honour_parent_env(sig: int = signal.SIGTERM) -> None:
    """In a `dcgan` process started with parent_env(): end with that parent. The variable is removed so the
    processes this one starts do not inherit a parent that is not theirs; a parent already gone ends us now."""
    expected = os.environ.pop(PARENT_ENV, None)
    if expected is None or not die_with_parent(sig):
        return
    if str(os.getppid()) != expected:  # it died before the request was in place: nobody will send the signal
        os.kill(os.getpid(), sig)


def preexec_die_with_parent() -> None:
    """A Popen preexec_fn: the child (torchrun) gets SIGTERM when the process that started it ends. Only for
    single-threaded parents such as the `dcgan train --nproc` launcher."""
    die_with_parent(signal.SIGTERM)


def _process_tree() -> dict[int, list[int]]:
    """Each process's children by its id, from /proc (Linux); empty where /proc is not there."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after its ')'.
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def children(pid: int) -> list[int]:
    """The processes `pid` started (torchrun's: the training processes); empty where /proc is not there."""
    return _process_tree().get(pid, [])


def descendants(pid: int) -> list[int]:
    """Every process below `pid`; empty where /proc is not there."""
    tree, found, todo = _process_tree(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
