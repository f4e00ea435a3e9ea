"""Typed events the trainer emits, and the subscriber protocol.

The core never prints: the progress bar, the run files, TensorBoard, W&B and the web dashboard are all
subscribers to these same events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Literal, Protocol

import torch

Status = Literal["starting", "running", "paused", "stopped", "finished", "failed"]
ACTIVE: tuple[Status, ...] = ("starting", "running", "paused")  # a trainer is at work
ENDED: tuple[Status, ...] = ("stopped", "finished", "failed")  # the run's session is over


@dataclass
class Event:
    time: float = field(default_factory=time.time, kw_only=True)

    def __repr__(self) -> str:
        """The dataclass's repr with tensors as their dtype and shape: `subscribers=[print]` shows a grid event
        in one line, not its pixels (the events that carry tensors use this repr)."""
        def brief(value: Any) -> str:
            if isinstance(value, torch.Tensor):
                return f"<{str(value.dtype).removeprefix('torch.')} tensor {'x'.join(map(str, value.shape))}>"
            return repr(value)

        shown = ", ".join(f"{f.name}={brief(getattr(self, f.name))}" for f in fields(self) if f.repr)
        return f"{type(self).__name__}({shown})"


@dataclass
class RunStarted(Event):
    """A run (new or resumed) is about to take its first step."""

    run_dir: str
    config: dict[str, Any]
    device: str
    start_step: int
    total_steps: int
    steps_per_epoch: int
    resumed: bool


@dataclass
class StepMetrics(Event):
    """The metrics of one logged step, by their names in dcgan.vocabulary: loss/D, loss/G, D/real, D/fake, ...,
    speed/images_per_s (and eval/<metric> at an evaluation's step)."""

    step: int
    epoch: int
    metrics: dict[str, float]
    manual: str | None = None  # a single step made while paused: "d", "g" or "dg"


@dataclass
class HyperparameterChanged(Event):
    """A live change, in effect from the step after `step`."""

    step: int
    field: str
    old: Any
    new: Any


@dataclass
class EpochEnd(Event):
    step: int
    epoch: int  # the epoch that just ended (1-based count of completed epochs)
    seconds: float


@dataclass(repr=False)
class SampleGrid(Event):
    """The fixed-noise grid at a step: images (N, C, H, W) uint8 on the CPU, nrow per grid row; a conditional
    run's rows are its classes, named by row_labels ("7 Sneaker")."""

    step: int
    epoch: int
    images: torch.Tensor
    nrow: int
    row_labels: list[str] | None = None


@dataclass(repr=False)
class RealGrid(Event):
    """Real training images laid out as the fixed-noise grid, sent when a run starts: what G aims at, to show
    beside its samples at the same size. images (N, C, H, W) uint8 on the CPU, nrow per grid row."""

    step: int
    images: torch.Tensor
    nrow: int
    row_labels: list[str] | None = None


@dataclass
class CheckpointSaved(Event):
    step: int
    path: str


@dataclass
class Log(Event):
    level: Literal["info", "warning", "error"]
    message: str


@dataclass
class StatusChanged(Event):
    status: Status
    step: int
    message: str = ""


class Subscriber(Protocol):
    def __call__(self, event: Event) -> None: ...


class EventBus:
    """Delivers each event to every subscriber in order. A subscriber that raises is reported (its first failure),
    not fatal: a broken dashboard connection must not stop training. A subscriber marked `essential` (the run
    folder's own files) is: a write that fails there (a full disk) stops the run instead of losing its record
    line by line, unless the run is already ending on an error (`best_effort`)."""

    def __init__(self, subscribers: list[Callable[[Event], None]] | None = None):
        self.subscribers: list[Callable[[Event], None]] = list(subscribers or [])
        self.failures: dict[int, int] = {}  # failures by subscriber (id): the first is reported, the rest counted
        self.best_effort = False

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        self.subscribers.append(fn)

    def emit(self, event: Event) -> None:
        for fn in list(self.subscribers):
            try:
                fn(event)
            except Exception as e:  # noqa: BLE001 - isolation is the point
                if getattr(fn, "essential", False) and not self.best_effort:
                    raise
                self.failures[id(fn)] = self.failures.get(id(fn), 0) + 1
                if self.failures[id(fn)] == 1 and not isinstance(event, Log):
                    self.emit(Log("warning", f"a subscriber failed on {type(event).__name__}: {e!r} (its later "
                                             f"failures are not reported)"))
