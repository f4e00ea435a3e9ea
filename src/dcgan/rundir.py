"""The run folder: its layout, the name and format of every file in it, reading and writing each, and its safety.

runs/<name>/
  config.json         the options chosen (TrainConfig.to_json), null where left to a default that training derives
                      (TrainConfig.resolved); written by the trainer before its first step
  changes.json        the live hyperparameter changes, replayed when the run resumes
  run.json            the reproducibility record: seed, parent (a fork's), one entry per session (versions,
                      device, determinism, data fingerprint, the command that started it)
  metrics.jsonl       one JSON row per logged step (its metrics by their names in dcgan.vocabulary; older runs'
                      names are read as those: OLD_METRIC_NAMES), per epoch end ("event": "epoch") and per live
                      change ("event": "hparam", with field, old and new): `event_row` writes them, `row_event`
                      reads them back as the events that wrote them (a multi-process run's follower,
                      dcgan.server.process)
  status.json         the run's last known status, step and totals (for run lists)
  log.txt             the log lines, "level: message"
  samples/step-0000200.png   fixed-noise grids (when: dcgan.cadence)
  real.png            real training images laid out as those grids, at the same size
  progress.gif        those grids animated (an evenly spread subset for long runs: images.write_gif)
  checkpoints/        step-0001000.pt files and `last` (dcgan.checkpoint)
  generator.safetensors   G's weights for sharing (dcgan.checkpoint)
  eval.json           `dcgan eval`'s report (dcgan.metrics.evaluate)
  events.out.tfevents.*, wandb/, wandb-id   TensorBoard's and W&B's files (dcgan.tracking)
  console.txt         a multi-process run's stdout and stderr, kept for a failed run (dcgan.server.process)
  trainer.lock        held by the one trainer writing the run

The trainer, the run files subscriber (dcgan.runfiles), the run list (dcgan.server.runs) and the multi-process
follower all read and write these through this module: a file's name and format are known here only.

Safety:
- No links out. Every file the server or a trainer reads or writes inside a run folder is reached through
  `inside(run_dir, *parts)`: the path is resolved (links followed) and must stay inside the run folder, so a link
  planted in it (`samples/step-0009999.png -> /some/secret`, `log.txt -> /etc/passwd`) is refused, never followed.
  A link that stays inside the folder is fine.
- One writer per run. A trainer (rank 0 of several processes) holds `trainer.lock` in its run folder: an flock
  that the kernel releases when the process ends however it ends (kill -9 included), so a lock is never left stale;
  the file records who holds it (PID, host, start time) for the message that refuses a second writer.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import re
import socket
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from dcgan import datasets
from dcgan import vocabulary as v
# The checkpoint files' names are dcgan.checkpoint's; readers of a run folder find them here with the rest.
from dcgan.checkpoint import (GENERATOR_FILE, LAST, atomic_write_bytes, atomic_write_chunks,  # noqa: F401
                              atomic_write_text, is_temp_name)
from dcgan.control import Change
from dcgan.errors import (CheckpointError, ConfigError, RunBusyError, RunFolderError, RunFolderGone,
                          refuse_a_file_in_the_way)
from dcgan.events import EpochEnd, Event, HyperparameterChanged, StepMetrics

if TYPE_CHECKING:
    from dcgan.config import TrainConfig
    from dcgan.data import ImageData

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are then not locked
    fcntl = None

CONFIG_FILE = "config.json"
CHANGES_FILE = "changes.json"
RECORD_FILE = "run.json"
METRICS = "metrics.jsonl"
STATUS_FILE = "status.json"
LOG_FILE = "log.txt"
SAMPLES = "samples"
REAL_GRID = "real.png"
PROGRESS_FILE = "progress.gif"
CHECKPOINTS = "checkpoints"
EVAL_FILE = "eval.json"
WANDB_ID_FILE = "wandb-id"  # every session of a run logs to the same W&B run
CONSOLE_FILE = "console.txt"
LOCK_FILE = "trainer.lock"
CHANGE_KEYS = frozenset(f.name for f in fields(Change))  # of each live change in changes.json
# Folders another tool owns inside a run: Weights & Biases keeps its offline run there and links its debug logs
# to its own cache. dcgan never reads or writes through them, so their links are W&B's business, not a way out.
TOOL_FOLDERS = ("wandb",)
LEVELS = ("info", "warning", "error")  # of log lines
NOT_METRICS = frozenset({"step", "epoch", "time", "event", "manual"})  # the keys of a row that are not curves
# The metric names metrics.jsonl had before the slash names (dcgan.vocabulary): a run written then still opens
# everywhere (run list and detail, curves, compare, resume, the multi-process follower), its rows read as today's.
OLD_METRIC_NAMES = {
    "loss_D": v.LOSS_D, "loss_G": v.LOSS_G, "loss_ratio": v.LOSS_RATIO, "D_x": v.D_REAL, "D_G_z": v.D_FAKE,
    "D_G_z_before": v.D_FAKE_BEFORE_G, "D_G_z_after": v.D_FAKE_AFTER_G, "W_distance": v.W_DISTANCE,
    "gp": v.GRADIENT_PENALTY, "r1": v.R1_PENALTY, "lr_G": v.LR_G, "lr_D": v.LR_D, "images_per_s": v.IMAGES_PER_S,
}


def inside(run_dir: str | os.PathLike, *parts: str) -> Path:
    """The resolved path of `parts` in a run folder; a RunFolderError when a link leads it outside."""
    root = Path(run_dir).resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise RunFolderError(f"{Path(*parts)} in run {root.name} leads outside the run folder (a link); a run "
                             f"folder's files stay inside it: remove the link")
    return path


def checkpoint_in(run_dir: str | os.PathLike, checkpoint: str | os.PathLike | None) -> Path | None:
    """A --checkpoint option: a path as given, or a name in the run's checkpoints/ folder (the names `ls` shows
    there, e.g. step-0001000.pt); None stays None (the run's last). A checkpoint of another run is refused: what
    is made from it (an export's card, eval.json, a resumed run) would carry this run's name and record."""
    if checkpoint is None:
        return None
    path = Path(checkpoint)
    if not path.exists() and path.name == str(checkpoint) and (Path(run_dir) / CHECKPOINTS / path.name).is_file():
        return inside(run_dir, CHECKPOINTS, path.name)
    mine, its = run_of(run_dir), run_of(path) if path.is_file() else None
    if mine is not None and its is not None and mine.resolve() != its.resolve():
        raise CheckpointError(f"--checkpoint {checkpoint} is a checkpoint of the run {its}, not of {run_dir}: give "
                              f"one of {run_dir}'s (ls {Path(run_dir) / CHECKPOINTS}), or give the run {its}")
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


# What a run folder may hold before its config.json: what a trainer that failed to open it left (its lock, its
# empty checkpoints/, W&B's and TensorBoard's first files) and the console a multi-process launcher keeps there.
OPENING_FILES = (LOCK_FILE, CHECKPOINTS, CONSOLE_FILE, WANDB_ID_FILE, *TOOL_FOLDERS)
TENSORBOARD_PREFIX = "events.out.tfevents."


def check_run_folder(run_dir: Path, option: str = "--run-dir") -> None:
    """A run's folder must be new, empty, or a run (config.json; the caller knows whether it may continue it): a
    file in the way, or a folder of other files (the current folder, say) that the run's files would be mixed
    into, is a ConfigError naming `option`."""
    refuse_a_file_in_the_way(run_dir, option)
    if not run_dir.is_dir() or (run_dir / CONFIG_FILE).exists():
        return
    try:
        others = sorted(p.name for p in run_dir.iterdir() if p.name not in OPENING_FILES
                        and not p.name.startswith(TENSORBOARD_PREFIX) and not is_temp_name(p.name))
    except OSError as e:
        raise ConfigError(f"{option}: cannot read the folder {run_dir} ({e.strerror or e}); choose a {option} you "
                          f"can write to", field=option[2:].replace("-", "_")) from None
    if others:
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        raise ConfigError(f"{option}: {run_dir} is not a run and holds other files ({others[0]}{more}); give a new "
                          f"or empty folder for a new run (or --resume a run folder)",
                          field=option[2:].replace("-", "_"))


def make_run_folder(run_dir: Path, option: str = "--run-dir") -> None:
    """Make a run folder (and the folders above it) unless it is there; a file in the way, a folder of other files
    (check_run_folder), or a folder that cannot be made, is a ConfigError naming `option`, the option that chose
    the place."""
    check_run_folder(run_dir, option)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{option}: cannot make the run folder {run_dir} ({e.strerror or e}); choose a "
                          f"{option} you can write to", field=option[2:].replace("-", "_")) from None


# --- Names ----------------------------------------------------------------------------------------------------

def unique_run_dir(runs_dir: Path, config: "TrainConfig") -> Path:
    """runs/<dataset>-<size>-<YYYYmmdd-HHMMSS>[-k], never an existing folder."""
    name = config.dataset
    if datasets.is_folder(name):
        name = Path(datasets.folder_path(name).rstrip("/")).name or "folder"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"
    base = f"{slug}-{config.image_size}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    candidate, k = Path(runs_dir) / base, 1
    while candidate.exists():
        k += 1
        candidate = Path(runs_dir) / f"{base}-{k}"
    return candidate


def run_of(target: str | os.PathLike) -> Path | None:
    """The run folder holding a target (itself, or the run of a checkpoint or generator file); None if none."""
    target = Path(target)
    for folder in (target, target.parent, target.parent.parent):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


def sample_name(step: int) -> str:
    return f"step-{step:07d}.png"


def step_of(path: str | os.PathLike) -> int:
    """The step in a sample's or checkpoint's file name: step-0001000.png, step-0001000.pt -> 1000."""
    return int(Path(path).stem.split("-")[1])


# --- Formats --------------------------------------------------------------------------------------------------

def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's value; None when it is missing or damaged (a reader lists the run, it does not fail)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def log_line(level: str, message: str) -> str:
    return f"{level}: {message}\n"


def parse_log_line(line: str) -> tuple[str, str]:
    """(level, message) of a log.txt line; a line of another shape (a message's own line breaks) is info."""
    level, _, message = line.partition(": ")
    return (level, message) if level in LEVELS else ("info", line)


def json_safe(value: Any) -> Any:
    """NaN and infinity are not JSON: write them as strings a reader can still recognise."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def as_float(value: Any) -> Any:
    """json_safe wrote NaN and infinity as strings: read them back as floats."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
    return value


def session_record(command: str, from_step: int, device: str, processes: int, precision: str, dataset: str,
                   data: "ImageData") -> dict[str, Any]:
    """A session's entry in run.json: how it was started and what is needed to reproduce it."""
    import platform

    import numpy
    import torch
    import torchvision

    from dcgan import __version__

    return {
        "started": datetime.now().isoformat(timespec="seconds"), "command": command,
        "from_step": from_step, "device": device, "processes": processes,
        "versions": {"dcgan": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
                     "numpy": numpy.__version__, "python": platform.python_version()},
        "determinism": {"deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                        "cudnn_benchmark": torch.backends.cudnn.benchmark,
                        "cudnn_deterministic": torch.backends.cudnn.deterministic,
                        "threads": torch.get_num_threads(), "precision": precision},
        "dataset": {"name": dataset, "source": data.source, "images": len(data), "fingerprint": data.fingerprint()},
    }


@dataclass
class RowEvent(Event):
    """A metrics.jsonl row of a kind this version does not know (e.g. an evaluation): forwarded as data."""

    kind: str
    step: int | None
    data: dict[str, Any]


def event_row(event: Event) -> dict[str, Any] | None:
    """The metrics.jsonl row of an event, or None for kinds the file does not keep."""
    if isinstance(event, StepMetrics):
        return {"step": event.step, "epoch": event.epoch, "time": round(event.time, 3),
                **({"manual": event.manual} if event.manual else {}),
                **{k: json_safe(v) for k, v in event.metrics.items()}}
    if isinstance(event, HyperparameterChanged):
        return {"event": "hparam", "step": event.step, "field": event.field, "old": event.old, "new": event.new,
                "time": round(event.time, 3)}
    if isinstance(event, EpochEnd):
        return {"event": "epoch", "step": event.step, "epoch": event.epoch, "epoch_time_s": round(event.seconds, 3),
                "time": round(event.time, 3)}
    return None


def row_event(row: dict[str, Any]) -> Event | None:
    """A metrics.jsonl row as the event that wrote it."""
    kind, step = row.get("event"), row.get("step")
    if not isinstance(step, int):
        return None
    if kind is None:
        metrics = {k: as_float(v) for k, v in row.items() if k not in NOT_METRICS}
        return StepMetrics(step, int(row.get("epoch", 0)), metrics, manual=row.get("manual"))
    if kind == "hparam":
        return HyperparameterChanged(step, row.get("field"), row.get("old"), row.get("new"))
    if kind == "epoch":
        return EpochEnd(step, int(row.get("epoch", 0)), float(row.get("epoch_time_s", 0.0)))
    return RowEvent(kind, step, row)


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl; a torn last line (a killed run) is ignored."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:  # damaged bytes spoil their line only
            return parse_rows(f)
    except FileNotFoundError:
        return []


def parse_rows(lines: Iterable[str]) -> list[dict[str, Any]]:
    """metrics.jsonl lines as rows, a step's metrics by today's names (OLD_METRIC_NAMES); a line that is not a
    JSON object with a whole-number step (torn, damaged) is left out. Every reader of metrics.jsonl reads through
    here."""
    return list(each_row(lines))


def each_row(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """parse_rows, one row at a time."""
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            row = json.loads(line)
            if isinstance(row, dict) and type(row.get("step")) is int:
                yield row if "event" in row else {OLD_METRIC_NAMES.get(k, k): value for k, value in row.items()}


def append_line(path: Path, line: str) -> None:
    """Append a line whole or not at all: a write cut short (the disk filled in its middle) is taken back, so the
    file never ends in a torn line that the next append, once there is space, would glue its own line to (losing
    both). The one writer of a run (its lock) appends; the error names the file (a failed write names none)."""
    data = line.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
    try:
        end = os.fstat(fd).st_size
        try:
            done = 0
            while done < len(data):  # a short write is followed by the one that fails
                done += os.write(fd, data[done:])
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise
    except OSError as e:
        e.filename = e.filename or str(path)
        raise
    finally:
        os.close(fd)


class StoredRows:
    """The rows of a metrics.jsonl, parsed from the file each time they are iterated: a long run's history
    streams past its reader instead of being held whole (a million logged steps are gigabytes as Python rows)."""

    def __init__(self, path: Path):
        self.path = path

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            f = open(self.path, encoding="utf-8", errors="replace")  # damaged bytes spoil their line only
        except FileNotFoundError:
            return
        with f:
            yield from each_row(f)


def read_appended(path: Path, offset: int) -> tuple[list[str], int]:
    """The complete lines written to a file after byte `offset`, and the offset after them (a line still being
    written is read next time). A file shorter than `offset` was rewritten (a resume trims metrics.jsonl): it is
    read again from its start."""
    if not path.exists():
        return [], offset
    if path.stat().st_size < offset:
        offset = 0
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    return data[:end].decode("utf-8", "replace").splitlines(), offset + end


class RunFolder:
    """One run folder's files, each reached through `inside`: a link planted in the folder is refused, never
    read or written through."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def file(self, *parts: str) -> Path:
        return inside(self.path, *parts)

    def target(self, *parts: str) -> Path:
        """`file` for a write: a RunFolderGone when the folder itself is gone. Atomic writes make missing parent
        folders, so a write into a run folder deleted during training would make it again, holding only that file."""
        if not self.path.is_dir():
            raise RunFolderGone(f"the run folder {self.path} is gone (deleted or moved while the run wrote it); "
                                f"nothing is left to resume: train a new run")
        return self.file(*parts)

    # --- config.json, changes.json, run.json: the trainer's own ----------------------------------------------

    def has_config(self) -> bool:
        return self.file(CONFIG_FILE).is_file()

    def config_values(self) -> Any:
        return read_json(self.file(CONFIG_FILE))

    def write_config(self, config: "TrainConfig") -> None:
        atomic_write_text(self.target(CONFIG_FILE), config.to_json())

    def changes(self) -> list[dict[str, Any]]:
        """The live changes from changes.json (empty when none were made); a damaged file is a CheckpointError,
        since a resume would replay the wrong ones."""
        path = self.file(CHANGES_FILE)
        try:
            changes = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} is damaged ({e}); delete it to resume without replaying live "
                                  f"changes") from e
        if not (isinstance(changes, list) and all(isinstance(c, dict) and set(c) == CHANGE_KEYS and
                                                  type(c["step"]) is int and isinstance(c["field"], str)
                                                  for c in changes)):
            raise CheckpointError(f"{path} is damaged (not a list of changes, each with "
                                  f"{', '.join(sorted(CHANGE_KEYS))}); delete it to resume without replaying live "
                                  f"changes")
        return changes

    def write_changes(self, changes: list[dict[str, Any]]) -> None:
        atomic_write_text(self.target(CHANGES_FILE), json.dumps(changes, indent=1))

    def record(self) -> Any:
        return read_json(self.file(RECORD_FILE))

    def add_session(self, session: dict[str, Any], seed: int, parent: dict[str, Any] | None) -> None:
        """Append a session to run.json, which is started (with the seed and a fork's parent) by the first."""
        record = self.record()
        if not isinstance(record, dict) or not isinstance(record.get("sessions"), list):
            record = {"seed": seed, "parent": parent, "sessions": []}
        record["sessions"].append(session)
        atomic_write_text(self.target(RECORD_FILE), json.dumps(record, indent=2))

    def update_session(self, session: dict[str, Any]) -> None:
        """Replace run.json's last session with `session` (the one training now, under the run's lock)."""
        record = self.record()
        if isinstance(record, dict) and isinstance(record.get("sessions"), list) and record["sessions"]:
            record["sessions"][-1] = session
            atomic_write_text(self.target(RECORD_FILE), json.dumps(record, indent=2))

    # --- eval.json: `dcgan eval`'s report -----------------------------------------------------------------------

    def evaluation(self) -> Any:
        return read_json(self.file(EVAL_FILE))

    def write_evaluation(self, report: dict[str, Any]) -> Path:
        path = self.target(EVAL_FILE)
        atomic_write_text(path, json.dumps(report, indent=2))
        return path

    # --- What the run files subscriber writes -------------------------------------------------------------------

    def status(self) -> Any:
        return read_json(self.file(STATUS_FILE))

    def write_status(self, status: dict[str, Any]) -> None:
        atomic_write_text(self.target(STATUS_FILE), json.dumps(status, indent=2))

    def append_log(self, level: str, message: str) -> None:
        append_line(self.target(LOG_FILE), log_line(level, message))

    def log_tail(self, lines: int) -> list[tuple[str, str]]:
        """The last `lines` log lines as (level, message); the file streams past, so a long log is never held."""
        try:
            with open(self.file(LOG_FILE), encoding="utf-8", errors="replace") as f:
                tail = collections.deque(f, maxlen=lines)
        except FileNotFoundError:
            return []
        return [parse_log_line(line.rstrip("\r\n")) for line in tail]

    def append_row(self, row: dict[str, Any]) -> None:
        append_line(self.target(METRICS), json.dumps(row) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        return read_metrics(self.file(METRICS))

    def stored_rows(self) -> StoredRows:
        """The rows, read from the file as they are iterated (each iteration reads it again)."""
        return StoredRows(self.file(METRICS))

    def truncate_rows(self, step: int) -> None:
        """Drop rows after `step`: a run resumed from a checkpoint at `step` logs those steps again. The rows kept
        are written back as parse_rows reads them, so an older run's file continues in today's names; they stream
        from the file into its replacement (a long run's rows are gigabytes as Python rows)."""
        path = self.file(METRICS)
        if path.exists():
            atomic_write_chunks(path, ((json.dumps(r) + "\n").encode("utf-8") for r in StoredRows(path)
                                       if r["step"] <= step))

    def write_sample(self, step: int, png: bytes) -> None:
        self.target(SAMPLES).mkdir(exist_ok=True)
        atomic_write_bytes(self.target(SAMPLES, sample_name(step)), png)

    def write_real(self, png: bytes) -> None:
        atomic_write_bytes(self.target(REAL_GRID), png)

    def sample_file(self, step: int) -> Path:
        return self.file(SAMPLES, sample_name(step))

    def sample_files(self) -> list[Path]:
        return self.files(SAMPLES, "step-*.png")

    def sample_steps(self) -> list[int]:
        return [step_of(p) for p in self.sample_files()]

    # --- Checkpoints (written by dcgan.checkpoint) ----------------------------------------------------------

    def checkpoint_files(self) -> list[Path]:
        return self.files(CHECKPOINTS, "step-*.pt")

    def last_checkpoint(self) -> Path | None:
        """The run's last complete checkpoint, as its `last` pointer names it (what a resume continues from), or
        None; the pointer is read bounded (a checkpoint's name) and only inside the run folder."""
        try:
            with open(self.file(CHECKPOINTS, LAST), "rb") as f:
                name = f.read(64).decode("utf-8", "replace").strip()
            path = self.file(CHECKPOINTS, name) if name else None
            return path if path is not None and path.is_file() else None
        except (OSError, CheckpointError, ValueError):
            return None

    def last_checkpoint_step(self) -> int | None:
        """The step of the run's last complete checkpoint, or None."""
        path = self.last_checkpoint()
        try:
            return step_of(path) if path is not None else None
        except (ValueError, IndexError):
            return None

    def files(self, folder: str, pattern: str) -> list[Path]:
        """The files of one of the run's folders that match, sorted and resolved; those that lead outside the run
        (links) are left out."""
        found = []
        for p in sorted(self.file(folder).glob(pattern)):
            with contextlib.suppress(RunFolderError):
                found.append(self.file(folder, p.name))
        return found


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
