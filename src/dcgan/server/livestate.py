"""The active run as clients see it, projected from its events: the status, the chart history in bounded memory,
the sample steps and the last log lines. A resumed run's earlier history is read from its files as they stream
past, into the same bounded form, never held whole.

The run manager owns one LiveState, applies each event to it on the event loop's thread (events from a trainer in
a worker thread and from a multi-process run's follower alike) and publishes the messages `apply` returns; a
client's hello is this state at that moment.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from dcgan.console import WARM_STEPS
from dcgan.events import (ACTIVE, CheckpointSaved, EpochEnd, Event, HyperparameterChanged, Log, RunStarted, SampleGrid,
                          StatusChanged, StepMetrics)
from dcgan.rundir import RowEvent, RunFolder
from dcgan.server import schemas
from dcgan.server.runs import Bucket, SampleIndex, columns, mean_row, number
from dcgan.vocabulary import IMAGES_PER_S

MARK_KINDS = ("epoch", "hparam", "other")  # the kinds of other rows a history keeps apart (Metrics: epochs, ...)


class LiveHistory:
    """The active run's logged rows for charts, in bounded memory: once `limit` points are held, neighbouring
    points are averaged in pairs and later rows are averaged as they pass in groups of the same size, so the whole
    curve stays evenly resolved however long the run. Of the other rows (epoch ends, live changes, evaluations)
    the newest `limit` of each kind are kept, as columns() sends them."""

    def __init__(self, limit: int, rows: Iterable[dict[str, Any]] = ()):
        self.limit = max(2, limit)
        self.points: list[dict[str, Any]] = []
        self.stride = 1
        self.rows = 0  # logged steps seen
        self.pending = Bucket()  # the rows of the next point, summed as they come
        # Epoch ends, live changes and other events, as metrics.jsonl writes them.
        self.marks: dict[str, deque[dict[str, Any]]] = {kind: deque(maxlen=self.limit) for kind in MARK_KINDS}
        for row in rows:
            self.add(row)

    def add(self, row: dict[str, Any]) -> None:
        if "event" in row:
            self.marks[row["event"] if row["event"] in MARK_KINDS else "other"].append(row)
            return
        self.rows += 1
        self.pending.add(row)
        if self.pending.rows < self.stride:
            return
        self.points.append(self.pending.mean())
        self.pending = Bucket()
        if len(self.points) >= self.limit:
            self.points = [mean_row(self.points[i:i + 2]) for i in range(0, len(self.points), 2)]
            self.stride *= 2

    def metrics(self) -> schemas.Metrics:
        rows = self.points + ([self.pending.mean()] if self.pending.rows else [])
        metrics = columns([row for kind in self.marks.values() for row in kind] + rows, self.limit)
        return metrics.model_copy(update={"points": self.rows, "downsampled": self.stride > 1})


Earlier = tuple[LiveHistory, SampleIndex]  # a resumed run's history before this session


@dataclass
class Update:
    """What an event changed for clients: messages to publish in order, then the status if it changed; `resync`
    when the history was replaced (every client starts over from a new hello)."""

    messages: list[Any] = field(default_factory=list)
    status: bool = False
    resync: bool = False


class LiveState:
    """The status, history, sample steps and log of the active run (or the last one). `scrub` takes file paths
    the clients may not see out of messages."""

    def __init__(self, history_points: int, log_lines: int, scrub: Callable[[str], str] = lambda text: text):
        self.history_points = history_points
        self.scrub = scrub
        self.status = schemas.Status(state="idle", message="no training started yet")
        self.history = LiveHistory(history_points)
        self.samples = SampleIndex()
        self.log: deque[schemas.LogLine] = deque(maxlen=log_lines)
        self.images_per_step = 0
        self.started = 0.0
        self.first_step = 0  # the session's first step: its ETA waits for WARM_STEPS past it

    def reset(self, run: str, nproc: int, images_per_step: int, **fields: Any) -> None:
        """A new run's state replaces the last one's."""
        self.images_per_step = images_per_step
        self.started = time.time()
        step, per_epoch = fields.get("step") or 0, fields.get("steps_per_epoch")
        self.status = schemas.Status(state="starting", run=run, nproc=nproc,
                                     epoch=step // per_epoch if per_epoch else 0, **fields)
        self.restore()
        self.log.clear()

    def read_earlier(self, run_dir: str | Path, until_step: int) -> Earlier:
        """A resumed run's history before this session, from its metrics.jsonl and grids up to `until_step`, in
        the bounded form clients get it: the file streams past (it can hold millions of rows), so call it off the
        event loop; `restore` then takes it."""
        folder = RunFolder(run_dir)
        steps = sorted(step for step in folder.sample_steps() if step <= until_step)
        return LiveHistory(self.history_points, folder.stored_rows()), SampleIndex(steps)

    def restore(self, earlier: Earlier | None = None) -> None:
        """The history a run had before this session (read_earlier), or none."""
        self.history, self.samples = earlier or (LiveHistory(self.history_points), SampleIndex())

    def current(self, clients: int) -> schemas.Status:
        """The status as clients get it: with the time the run has taken and, while it runs, its ETA."""
        status = self.status.model_copy(update={"clients": clients})
        if status.state in ACTIVE:
            status.elapsed_s = time.time() - self.started
            # None through the warm-up, as on the console: its slow first steps said 20 minutes for a 10-minute run.
            warm = status.step is not None and status.step - self.first_step >= WARM_STEPS
            if status.state == "running" and warm and status.images_per_s and status.total_steps is not None:
                steps_per_s = status.images_per_s / max(self.images_per_step, 1)
                status.eta_s = (status.total_steps - status.step) / steps_per_s
        return status

    def add_log(self, level: str, message: str, when: float | None = None) -> schemas.LogMessage:
        line = schemas.LogLine(time=time.time() if when is None else when, level=level, message=message)
        self.log.append(line)
        return schemas.LogMessage(run=self.status.run, line=line)

    def apply(self, event: Event, earlier: Earlier | None = None) -> Update:
        """Apply one event; `earlier` is a resumed run's history (read_earlier) with its RunStarted."""
        status, run = self.status, self.status.run or ""
        if isinstance(event, RunStarted):
            self.first_step = event.start_step
            if earlier is None:
                return Update()
            self.restore(earlier)
            return Update(resync=True)
        if isinstance(event, StepMetrics):
            values = {k: number(v) for k, v in event.metrics.items()}
            self.history.add({"step": event.step, "epoch": event.epoch, **values})
            status.step, status.images_per_s = event.step, values.get(IMAGES_PER_S)
            status.epoch = event.epoch
            return Update([schemas.StepMessage(run=run, step=event.step, epoch=event.epoch, values=values,
                                               manual=event.manual)], status=True)
        if isinstance(event, EpochEnd):
            status.epoch = event.epoch
            self.history.add({"event": "epoch", "step": event.step, "epoch": event.epoch})
            return Update([schemas.EpochMessage(run=run, step=event.step, epoch=event.epoch, seconds=event.seconds)])
        if isinstance(event, SampleGrid):
            self.samples.add(event.step)
            return Update([schemas.SampleMessage(run=run, step=event.step,
                                                 url=f"/api/runs/{run}/samples/{event.step}.png")])
        if isinstance(event, CheckpointSaved):
            return Update([schemas.CheckpointMessage(run=run, step=event.step, checkpoint=Path(event.path).name)])
        if isinstance(event, Log):
            return Update([self.add_log(event.level, self.scrub(event.message), event.time)])
        if isinstance(event, StatusChanged):
            status.state, status.step, status.message = event.status, event.step, self.scrub(event.message)
            return Update(status=True)
        if isinstance(event, HyperparameterChanged):
            if event.field == "d_steps" and event.old:  # a step takes d_steps batches: the ETA follows the change
                self.images_per_step = self.images_per_step // int(event.old) * int(event.new)
            mark = schemas.HparamMark(step=event.step, field=event.field, old=event.old, new=event.new)
            self.history.add({"event": "hparam", **mark.model_dump()})
            return Update([schemas.HparamMessage(run=run, mark=mark)])
        if isinstance(event, RowEvent):
            self.history.add({"event": event.kind, **event.data})
            return Update([schemas.EventMessage(run=run, kind=event.kind, data=event.data)])
        # An event kind this server does not know yet (e.g. evaluations): forwarded as data.
        return Update([schemas.EventMessage(run=run, kind=type(event).__name__, data=event_data(event))])


def event_data(event: Event) -> dict[str, Any]:
    """An event's fields as JSON data; tensors (images) are left out, they do not belong on the wire, and any
    other value JSON does not know is sent as its text."""
    return {f.name: json.loads(json.dumps(getattr(event, f.name), default=str)) for f in dataclasses.fields(event)
            if not isinstance(getattr(event, f.name), torch.Tensor)}
