"""Steering a run while it trains: commands from other threads (a web request, a notebook cell) that the
training thread carries out at step boundaries, and the history of live hyperparameter changes.

Only these fields change live; everything else is fixed by the run's config.json (fork the run to change more).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

LIVE_FIELDS = ("lr_g", "lr_d", "d_steps", "label_smoothing", "instance_noise", "sample_every", "checkpoint_every")
# A fork may change anything but what fixes the networks' shapes and the data they learn.
FORK_FIXED = ("dataset", "data_dir", "image_size", "channels", "latent_dim", "g_width", "d_width", "d_norm",
              "spectral_norm", "minibatch_discrimination", "conditional", "d_conditioning", "num_classes", "seed")
STEP_PARTS = {"d": "d", "g": "g", "full": "dg"}
# Live changes one run records: changes.json is rewritten at each, a resume replays them all and every answer about
# the run lists them, so a client cannot make a run's record grow without end. A fork starts a new record.
MAX_LIVE_CHANGES = 1000


@dataclass(frozen=True)
class Change:
    """A live change, taking effect from the step after `step`."""

    step: int
    field: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "field": self.field, "old": self.old, "new": self.new}


class Commands:
    """A thread-safe queue of commands for the training thread; `paused` is owned by the training thread."""

    def __init__(self):
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.paused = False
        self.queued_changes = 0  # fields of live changes queued and not yet recorded (they count toward the limit)
        self._changes_lock = threading.Lock()

    def put(self, kind: str, arg: Any = None) -> None:
        self.queue.put((kind, arg))

    def put_changes(self, changes: dict[str, Any], room: int) -> bool:
        """Queue live changes unless, with those already queued, they would be more than `room`."""
        with self._changes_lock:
            if self.queued_changes + len(changes) > room:
                return False
            self.queued_changes += len(changes)
            self.queue.put(("set", changes))
            return True

    def changes_done(self, changes: dict[str, Any]) -> None:
        """Queued changes carried out (and recorded, where they changed a value)."""
        with self._changes_lock:
            self.queued_changes -= len(changes)

    def next(self, wait: bool) -> tuple[str, Any] | None:
        """The next command; while `wait`, blocks up to 0.2 s so a stop request is noticed promptly."""
        try:
            return self.queue.get(block=wait, timeout=0.2 if wait else None)
        except queue.Empty:
            return None
