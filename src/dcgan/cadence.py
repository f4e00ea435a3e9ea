"""When a run takes its snapshots: fixed-noise grids and checkpoints, by steps and by epochs.

Every rule here is a pure function of the step or epoch count, so a resumed run keeps the same schedule.
Grids come early and then less often: at steps 10, 25, 50, 100, 250, ... (a 1-2.5-5 log scale) below
--sample-every, then every --sample-every steps. The first grids of a run change the most, and a CPU reaches
step 50 within seconds, so the dashboard and TensorBoard show learning long before step --sample-every.
"""

from __future__ import annotations

import functools

EARLY_MANTISSAS = (1, 2.5, 5)  # x 10, 100, 1000, ...: 10, 25, 50, 100, 250, 500, ...


@functools.lru_cache(maxsize=64)
def early_sample_steps(every: int) -> frozenset[int]:
    """The early grid steps below `every`: 10, 25, 50, 100, 250, ... (none when every <= 10)."""
    steps, scale = set(), 10
    while scale < every:
        steps.update(int(m * scale) for m in EARLY_MANTISSAS if m * scale < every)
        scale *= 10
    return frozenset(steps)


def sample_due(step: int, every: int) -> bool:
    """Whether a grid follows `step`: step 0, the early steps below `every`, then every `every` steps. 0 = off."""
    if every <= 0:
        return False
    return step % every == 0 or step in early_sample_steps(every)


def every_n(count: int, n: int) -> bool:
    """Whether the count (steps or finished epochs) is a multiple of n; n = 0 turns the rule off."""
    return n > 0 and count % n == 0
