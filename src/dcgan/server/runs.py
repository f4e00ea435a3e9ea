"""The runs folder, read safely: run names and file names from requests are checked against patterns, and every
file is reached through `rundir.inside`, so no link leads a read out of its run folder; one broken run is listed
as broken, never breaks the list; long metric histories are averaged down for charts."""

from __future__ import annotations

import math
import os
import re
import threading
from collections import OrderedDict, deque
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from fastapi import HTTPException
from pydantic import ValidationError

from dcgan import budget
from dcgan.checkpoint import resolve_checkpoint
from dcgan.config import TrainConfig
from dcgan.config import fork_base
from dcgan.errors import CheckpointError, ConfigError, DcganError, RunFolderError
from dcgan.events import ACTIVE
from dcgan.rundir import (CHECKPOINTS, CONFIG_FILE, EVAL_FILE, GENERATOR_FILE, LAST, NOT_METRICS,
                          RECORD_FILE, STATUS_FILE, RunFolder, holder, inside, read_json, step_of)
from dcgan.sampling import LoadedGenerator, load_generator
from dcgan.server import schemas

GENERATOR_CACHE = 4  # loaded generators kept in memory (a few runs' or checkpoints' G at once)


class RunStore:
    """The run folders under one root, and the generator each run has selected for generation."""

    def __init__(self, root: str | Path, memory_budget: int | None = None):
        self.root = Path(root).resolve()
        self.memory_budget = memory_budget  # bytes a generator may take to load and draw with (None: no limit)
        self.selected: dict[str, str] = {}  # run name -> checkpoint file chosen for generation
        self._generators: OrderedDict[tuple[str, int], LoadedGenerator] = OrderedDict()
        self._lock = threading.Lock()  # generate requests run in the thread pool
        # One load at a time: requests for checkpoints not in the cache would each hold their own copy at once,
        # multiplying the memory budget each load is held to.
        self._loading = threading.Lock()

    # --- Names -> paths ------------------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """The folder of a run name, which must stay directly inside the runs folder (symlinks included)."""
        if not re.fullmatch(schemas.RUN_NAME, name):  # fullmatch: `$` alone lets a trailing newline through
            shown = name if len(name) <= 64 else f"{name[:64]}..."
            raise HTTPException(422, f"{shown!r} is not a run name: use letters, digits, '.', '_' and '-' only")
        path = (self.root / name).resolve()
        if path.parent != self.root:
            raise HTTPException(422, f"run {name!r} points outside the runs folder")
        return path

    def run(self, name: str) -> Path:
        """An existing run's folder, or 404."""
        path = self.path(name)
        if not RunFolder(path).has_config():
            raise HTTPException(404, f"no run named {name!r} in the runs folder; GET /api/runs lists them")
        return path

    def new_run(self, name: str) -> Path:
        path = self.path(name)
        if path.exists():
            raise HTTPException(409, f"{name!r} already exists in the runs folder; choose another name or resume it")
        return path

    # --- Reading runs --------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Folders that hold a config.json (or a link by that name: a broken run is listed as broken)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if re.fullmatch(schemas.RUN_NAME, p.name) and os.path.lexists(p / CONFIG_FILE))

    def summaries(self, active: str | None = None) -> list[schemas.RunSummary]:
        """Every run's summary; a run that cannot be read is listed as broken with the reason."""
        found = []
        for name in self.names():
            try:
                found.append(self.summary(name, active))
            except (HTTPException, DcganError, OSError, ValueError, TypeError, AttributeError) as e:
                reason = e.detail if isinstance(e, HTTPException) else str(e) or type(e).__name__
                found.append(schemas.RunSummary(name=name, status="broken", broken=reason))
        return found

    def summary(self, name: str, active: str | None = None) -> schemas.RunSummary:
        path = self.path(name)
        if os.path.lexists(path / CONFIG_FILE) and not inside(path, CONFIG_FILE).is_file():
            raise RunFolderError(f"{CONFIG_FILE} is a link to nothing")
        path = self.run(name)
        folder = RunFolder(path)
        config = folder.config_values()
        status = folder.status() if folder.file(STATUS_FILE).exists() else {}
        for file, value in ((CONFIG_FILE, config), (STATUS_FILE, status)):
            if not isinstance(value, dict):
                raise RunFolderError(f"{file} is damaged (not a JSON object)")
        state, step, message = status.get("status"), status.get("step"), status.get("message")
        if state in ACTIVE and name != active and holder(path) is None:
            # Its trainer is gone (killed, or its machine restarted): it continues from its last checkpoint.
            last = folder.last_checkpoint_step()
            state, step = "interrupted", last
            message = (f"interrupted: its trainer ended without stopping; resume continues from step {last:,}"
                       if last is not None else
                       "interrupted before its first checkpoint: a resume trains it again from step 0")
        resolved = self._resolved(config, status)
        try:  # a value of the wrong type in a file edited by hand: the run is listed as broken
            return schemas.RunSummary(
                name=name, status=state, step=step, total_steps=status.get("total_steps"), message=message,
                device=status.get("device") if isinstance(status.get("device"), str) else None,
                dataset=config.get("dataset"), image_size=resolved.get("image_size"),
                channels=resolved.get("channels"),
                conditional=bool(config.get("conditional")), num_classes=config.get("num_classes"),
                loss=resolved["loss"] if isinstance(resolved.get("loss"), str) else None,
                updated=status.get("updated") or inside(path, CONFIG_FILE).stat().st_mtime,
                checkpoints=len(folder.checkpoint_files()), samples=len(folder.sample_files()), active=name == active,
                evaluated=folder.file(EVAL_FILE).is_file(), parent=self.parent(path))
        except ValidationError as e:
            error = e.errors()[0]
            raise RunFolderError(f"{CONFIG_FILE} or {STATUS_FILE} is damaged ({error['loc'][0]}: "
                                 f"{error['msg'].lower()})") from None

    def parent(self, path: Path) -> schemas.Parent | None:
        """The run and step a fork started from, from its run.json (names only: no paths leave the server)."""
        record = RunFolder(path).record()
        parent = record.get("parent") if isinstance(record, dict) else None
        if not isinstance(parent, dict) or "run" not in parent:
            return None
        checkpoint = Path(str(parent.get("checkpoint") or "")).name or None
        return schemas.Parent(run=Path(str(parent["run"])).name, step=int(parent.get("step", 0)),
                              checkpoint=checkpoint)

    def changes(self, name: str) -> list[schemas.HparamMark]:
        try:
            return [schemas.HparamMark(**c) for c in RunFolder(self.run(name)).changes()]
        except CheckpointError:  # damaged: none shown (a resume says what is wrong)
            return []

    def record(self, name: str) -> dict[str, Any]:
        record = RunFolder(self.run(name)).record()
        if not isinstance(record, dict):
            raise HTTPException(404, f"run {name!r} has no reproducibility record ({RECORD_FILE}); runs made "
                                     f"before it existed have none")
        return record

    def log_tail(self, name: str, lines: int) -> list[schemas.LogLine]:
        return [schemas.LogLine(level=level, message=message)
                for level, message in RunFolder(self.run(name)).log_tail(lines)]

    def nearest_sample(self, name: str, step: int) -> int | None:
        """The run's sample step closest to `step` (the earlier one on a tie); None when it has none."""
        steps = self.sample_steps(name)
        return min(steps, key=lambda s: (abs(s - step), s)) if steps else None

    def config(self, name: str) -> dict[str, Any]:
        config = RunFolder(self.run(name)).config_values()
        if not isinstance(config, dict):
            raise HTTPException(409, f"run {name!r}: {CONFIG_FILE} is damaged (not a JSON object)")
        return config

    def options(self, name: str, step: int | None = None) -> dict[str, Any]:
        """The run's choices in effect after `step` (default: its last), its live changes included: what a fork
        from there starts from (dcgan.config.fork_base, as `dcgan train --fork` uses it)."""
        changes = [c.model_dump() for c in self.changes(name)]
        return fork_base(self.config(name), changes, step if step is not None else math.inf)

    def resolved(self, name: str) -> dict[str, Any]:
        """The values the run trains with now: its choices, live changes and the defaults derived from them
        for the device it last ran on."""
        return self._resolved(self.options(name), read_json(inside(self.run(name), STATUS_FILE)) or {})

    def train_config(self, name: str) -> TrainConfig:
        """The run's config as it trains now (resolved); a ConfigError when this version cannot read it."""
        status = read_json(inside(self.run(name), STATUS_FILE)) or {}
        return TrainConfig.from_saved(self.options(name)).resolved(self._device(status))

    @staticmethod
    def _device(status: Any) -> str:
        """The device type the run last ran on (its status.json), cpu when it does not say."""
        return str(status.get("device") or "cpu").split(":")[0] if isinstance(status, dict) else "cpu"

    @classmethod
    def _resolved(cls, options: dict[str, Any], status: Any) -> dict[str, Any]:
        try:
            return TrainConfig.from_saved(options).resolved(cls._device(status)).to_dict()
        except (ConfigError, TypeError):  # a config.json this version cannot read: show what it says
            return dict(options)

    def metrics(self, name: str, max_points: int) -> schemas.Metrics:
        return columns(RunFolder(self.run(name)).stored_rows(), max_points)

    def sample_steps(self, name: str) -> list[int]:
        return RunFolder(self.run(name)).sample_steps()

    def samples(self, name: str) -> schemas.SampleSteps:
        """The run's sample steps as clients get them: bounded (SampleSteps)."""
        return SampleIndex(sorted(self.sample_steps(name))).answer()

    def sample_file(self, name: str, step: int) -> Path:
        path = RunFolder(self.run(name)).sample_file(step)
        if not path.is_file():
            raise HTTPException(404, f"run {name!r} has no sample grid at step {step}; "
                                     f"GET /api/runs/{name}/samples lists the steps")
        return path

    def checkpoints(self, name: str) -> list[schemas.CheckpointInfo]:
        run = self.run(name)
        folder = RunFolder(run)
        last = folder.last_checkpoint()
        found = [schemas.CheckpointInfo(name=p.name, step=step_of(p), bytes=p.stat().st_size,
                                        last=last is not None and p.name == last.name,
                                        options=self.options(name, step_of(p)))
                 for p in folder.checkpoint_files()]
        export = inside(run, GENERATOR_FILE)
        if export.is_file():
            found.append(schemas.CheckpointInfo(name=GENERATOR_FILE, step=None, bytes=export.stat().st_size,
                                                last=False))
        return found

    def checkpoint_file(self, name: str, checkpoint: str | None) -> Path:
        """A checkpoint by file name (checkpoints/step-*.pt or generator.safetensors), else the run's selected
        one, else its last. Names are matched against a pattern, so they cannot leave the run folder."""
        run = self.run(name)
        checkpoint = checkpoint or self.selected.get(name)
        if checkpoint is None:
            if not inside(run, CHECKPOINTS, LAST).is_file() and not inside(run, GENERATOR_FILE).is_file():
                raise HTTPException(409, f"run {name!r} has no checkpoint yet; one is written every "
                                         f"checkpoint_every steps and when training stops")
            return last_checkpoint(run)
        if not re.fullmatch(schemas.CHECKPOINT_NAME, checkpoint):
            raise HTTPException(422, f"{checkpoint!r} is not a checkpoint name: use step-NNNNNNN.pt or "
                                     f"{GENERATOR_FILE}")
        path = inside(run, GENERATOR_FILE) if checkpoint == GENERATOR_FILE else inside(run, CHECKPOINTS, checkpoint)
        if not path.is_file():
            raise HTTPException(404, f"run {name!r} has no checkpoint {checkpoint!r}; "
                                     f"GET /api/runs/{name} lists them")
        return path

    def generator(self, name: str, checkpoint: str | None = None) -> LoadedGenerator:
        """G of a run's checkpoint on the CPU, cached by file and modification time (a checkpoint rewritten
        under the same name is loaded again)."""
        path = self.checkpoint_file(name, checkpoint)
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if key in self._generators:
                self._generators.move_to_end(key)
                return self._generators[key]
        with self._loading:
            with self._lock:  # loaded meanwhile by the request that held the turn
                if key in self._generators:
                    return self._generators[key]
            if self.memory_budget is not None:
                config = self.train_config(name)
                budget.check(budget.generator_cost(config, path.stat().st_size), self.memory_budget,
                             advice="start the server with a larger --memory-budget to generate from it")
            generator = load_generator(path, device="cpu")
        with self._lock:
            self._generators[key] = generator
            while len(self._generators) > GENERATOR_CACHE:
                self._generators.popitem(last=False)
        return generator

    def check_drawing(self, name: str, images: int, advice: str) -> None:
        """A 422 when drawing `images` images' worth of activations with the run's G (loaded already) is above the
        memory budget: for work that holds more at once than the generation a load is budgeted for."""
        if self.memory_budget is not None:
            config = self.train_config(name)
            budget.check(budget.generator_cost(config, 0, images), self.memory_budget, advice=advice)

    # --- Paths a client gives (seed 000's /load_model), and the newest saved model -----------------------------

    def locate(self, text: str) -> tuple[str, str | None]:
        """A run or one of its checkpoints, named by a path inside the runs folder -> (run name, checkpoint file
        name or None for the run's selected or last one). Accepted: `<run>`, `<run>/checkpoints/step-NNNNNNN.pt`,
        `<run>/step-NNNNNNN.pt`, `<run>/generator.safetensors`, each also after the folder's own name
        (`runs/<run>`) or as an absolute path inside the folder. `..`, other files and a file whose real path
        leaves its run folder (a link out) are refused; a run or checkpoint that is not there is 404."""
        given = PurePosixPath(text.strip())
        if given.is_absolute():
            if not given.is_relative_to(self.root):
                raise HTTPException(422, f"{text!r} is outside the runs folder; name a run in it or one of its "
                                         f"checkpoints, e.g. <run>/checkpoints/step-0001000.pt")
            given = given.relative_to(self.root)
        parts = list(given.parts)
        if len(parts) > 1 and parts[0] == self.root.name and not (self.root / parts[0] / CONFIG_FILE).is_file():
            parts = parts[1:]  # runs/<run>/...: the folder's own name, as a path from the server's directory
        if len(parts) == 3 and parts[1] == CHECKPOINTS and re.fullmatch(schemas.TRAINING_CHECKPOINT, parts[2]):
            parts = [parts[0], parts[2]]
        if ".." in parts or not 1 <= len(parts) <= 2:
            raise HTTPException(422, f"{text!r} does not name a run or a checkpoint: use <run>, "
                                     f"<run>/checkpoints/step-NNNNNNN.pt or <run>/{GENERATOR_FILE} (paths inside "
                                     f"the runs folder only)")
        name, checkpoint = parts[0], (parts[1] if len(parts) == 2 else None)
        self.contained(name, self.checkpoint_file(name, checkpoint))
        return name, checkpoint

    def contained(self, name: str, path: Path) -> Path:
        """A file of run `name`, unless its real location is outside the run's folder (a link out)."""
        if not path.resolve().is_relative_to(self.path(name)):
            raise HTTPException(422, f"{path.name} of run {name!r} links outside its run folder; refused")
        return path

    def relative(self, name: str, path: Path) -> str:
        """A run's file as a path inside the runs folder (`<run>/checkpoints/step-NNNNNNN.pt`): what the server
        tells clients, never an absolute path."""
        return f"{name}/{path.relative_to(self.path(name)).as_posix()}"

    def newest_saved(self) -> str | None:
        """The run whose newest checkpoint was written last; None when no run has one."""
        newest: tuple[float, str] | None = None
        for name in self.names():
            folder = self.root / name
            stamps = [p.stat().st_mtime for p in (folder / CHECKPOINTS / LAST, folder / GENERATOR_FILE)
                      if p.is_file()]
            if stamps and (newest is None or max(stamps) > newest[0]):
                newest = (max(stamps), name)
        return newest[1] if newest else None


def last_checkpoint(run: Path) -> Path:
    """A run's newest checkpoint (the one its `last` pointer names, else its generator.safetensors), every file read
    on the way inside the run folder: a pointer that is a link out of it is refused before it is read, since a
    pointer naming a missing file is quoted in the error (a link to any file would show its text)."""
    for pointer in ((CHECKPOINTS, LAST), (LAST,)):
        inside(run, *pointer)
    return inside(run, *resolve_checkpoint(run).relative_to(run).parts)


# --- Sample steps -------------------------------------------------------------------------------------------

class SampleIndex:
    """A run's sample steps, added in increasing order, held and sent in bounded size: its count, first and last
    step exactly, and every `stride`-th grid from the first, the stride doubling (every other one dropped) each time
    the list fills up, so a run of any length stays evenly covered."""

    def __init__(self, steps: Iterable[int] = (), limit: int = schemas.MAX_SAMPLE_STEPS):
        self.limit = max(2, limit)
        self.count, self.first, self.last = 0, None, None
        self.kept: list[int] = []  # the 0th, stride-th, 2*stride-th, ... grid: at most limit - 1, the last joins
        self.stride = 1
        for step in steps:
            self.add(step)

    def add(self, step: int) -> None:
        if self.last is not None and step <= self.last:
            return  # already held (a grid written again at its step)
        if self.count % self.stride == 0:
            self.kept.append(step)
            if len(self.kept) >= self.limit:
                self.kept = self.kept[::2]
                self.stride *= 2
        self.count += 1
        self.first = step if self.first is None else self.first
        self.last = step

    def answer(self) -> schemas.SampleSteps:
        steps = self.kept + ([self.last] if self.kept and self.kept[-1] != self.last else [])
        return schemas.SampleSteps(count=self.count, first=self.first, last=self.last, steps=steps,
                                   every=self.stride, thinned=len(steps) < self.count, limit=self.limit)


# --- Metric histories ---------------------------------------------------------------------------------------

def number(value: Any) -> float | None:
    """A chartable value: finite numbers pass; NaN, infinity (written as strings) and anything else are None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def mean_row(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Rows averaged into one at the last row's step and epoch; a key's mean skips rows without a value."""
    bucket = Bucket()
    for row in rows:
        bucket.add(row)
    return bucket.mean()


class Bucket:
    """Consecutive step rows averaged as they pass, without holding them."""

    def __init__(self) -> None:
        self.rows = 0
        self.last: dict[str, Any] = {}
        self.sums: dict[str, float | int] = {}  # key -> sum of its finite values, in the order keys appear
        self.counts: dict[str, int] = {}

    def add(self, row: dict[str, Any]) -> None:
        self.rows += 1
        self.last = row
        for key, value in row.items():
            if key in NOT_METRICS:
                continue
            self.sums.setdefault(key, 0)
            self.counts.setdefault(key, 0)
            if (value := number(value)) is not None:
                self.sums[key] += value
                self.counts[key] += 1

    def mean(self) -> dict[str, Any]:
        return {"step": self.last["step"], "epoch": self.last.get("epoch", 0),
                **{k: self.sums[k] / self.counts[k] if self.counts[k] else None for k in self.sums}}


def is_step(row: dict[str, Any]) -> bool:
    return row.get("event") is None and isinstance(row.get("step"), int)


def columns(rows: Iterable[dict[str, Any]], max_points: int) -> schemas.Metrics:
    """metrics.jsonl rows -> columns for charts, with epoch ends and live changes as marks. Beyond max_points,
    consecutive rows are averaged in equal buckets (the curve's trend survives, its step-to-step noise is
    smoothed); of the epoch ends, live changes and other events, the newest max_points of each are kept. `rows`
    is iterated twice, to count and then to average (a list, or StoredRows, which reads its file again), so a long
    history is averaged down as it streams past, never held whole; step rows appended between the two readings
    wait for the next request."""
    total = sum(1 for row in rows if is_step(row))
    size = math.ceil(total / max_points) if total > max_points else 1
    points, bucket, seen = [], Bucket(), 0
    epochs, hparams, others = deque(maxlen=max_points), deque(maxlen=max_points), deque(maxlen=max_points)
    for row in rows:
        kind = row.get("event")
        if is_step(row):
            seen += 1
            if seen > total:
                continue
            bucket.add(row)
            if bucket.rows == size:
                points.append(bucket.mean())
                bucket = Bucket()
        elif kind == "epoch":
            epochs.append(schemas.EpochMark(step=row["step"], epoch=row["epoch"]))
        elif kind == "hparam":
            hparams.append(schemas.HparamMark(step=row["step"], field=row["field"], old=row.get("old"),
                                              new=row.get("new")))
        elif kind is not None:
            others.append({k: number(v) if isinstance(v, float) else v for k, v in row.items()})
    if bucket.rows:
        points.append(bucket.mean())
    names = list(dict.fromkeys(k for r in points for k in r if k not in NOT_METRICS))
    return schemas.Metrics(step=[r["step"] for r in points], epoch=[r.get("epoch", 0) for r in points],
                           series={k: [number(r.get(k)) for r in points] for k in names}, epochs=list(epochs),
                           hparams=list(hparams), events=list(others), points=min(seen, total), downsampled=size > 1)
