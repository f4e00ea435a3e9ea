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
