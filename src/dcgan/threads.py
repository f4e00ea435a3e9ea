"""How many intra-op threads a CPU run keeps when other programs share the cores.

The small networks' step is ~150 operations of 0.01-0.5 ms, each an OpenMP parallel region whose threads wait for
each other at its end. When another busy program shares the cores, one of the run's threads is often descheduled,
and every region then waits a scheduler slice for it: on 2 cores the step ran at 0.03x the speed of one thread
(docs/performance.md, "Threads"). On a quiet machine the second thread is 1.4x, so the count cannot simply be
lowered. The starvation shows from inside: the steps get less CPU time than they have threads. The governor
measures that over the training steps alone (not pauses, evaluations or file writes) and drops a thread when
two windows in a row miss more than half a core. It only ever lowers the count, and only when the user has not
chosen one (OMP_NUM_THREADS): a quiet machine keeps its threads, and so repeats a seeded run exactly. A dropped
thread changes the order of floating-point sums, so a seeded run on a busy machine can differ from one on a quiet
machine; run.json records the counts (determinism: threads, threads_adaptive, threads_changes) and OMP_NUM_THREADS=N
fixes them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

WINDOW_S = 2.0  # seconds of training steps per measurement
STARVED_BY = 0.5  # cores missing from the threads' share that count as starved
PATIENCE = 2  # starved windows in a row before a thread is dropped


class ThreadGovernor:
    def __init__(self, threads: int, wall: Callable[[], float] = time.perf_counter,
                 cpu: Callable[[], float] = time.process_time):
        self.threads = threads
        self._wall, self._cpu = wall, cpu
        self._window_wall = self._window_cpu = 0.0
        self._starved = 0
        self._started: tuple[float, float] | None = None

    def start_step(self) -> None:
        self._started = (self._wall(), self._cpu())

    def end_step(self) -> tuple[int, float] | None:
        """After a step: (the new thread count, the CPU cores the run got) when a thread is to go, else None."""
        if self._started is None or self.threads <= 1:
            return None
        wall, cpu = self._started
        self._window_wall += self._wall() - wall
        self._window_cpu += self._cpu() - cpu
        self._started = None
        if self._window_wall < WINDOW_S:
            return None
        cores = self._window_cpu / self._window_wall
        self._window_wall = self._window_cpu = 0.0
        self._starved = self._starved + 1 if cores < self.threads - STARVED_BY else 0
        if self._starved < PATIENCE:
            return None
        self._starved = 0
        self.threads -= 1
        return self.threads, cores


def governor_for(device_type: str, threads: int, processes: int) -> ThreadGovernor | None:
    """A governor for a single-process CPU run whose thread count nobody chose, else None."""
    if device_type != "cpu" or processes > 1 or threads <= 1 or os.environ.get("OMP_NUM_THREADS"):
        return None
    return ThreadGovernor(threads)
