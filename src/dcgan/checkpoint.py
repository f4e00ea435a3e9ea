"""Checkpoints: versioned, written atomically, loaded without ever executing code from the file.

Layout of a run's checkpoints/ folder:
  step-0001000.pt   G, D, both optimizers, step, epoch, RNG states, fixed noise, config, package version
  last              the name of the newest complete checkpoint (written after the file itself is complete)
and beside it generator.safetensors: G's weights with its config as metadata, for sharing.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import pickle
import re
import secrets
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from dcgan.errors import CheckpointError, first_line

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

FORMAT = "dcgan-checkpoint"
FORMAT_VERSION = 1
GENERATOR_FILE = "generator.safetensors"
LAST = "last"
_TEMP_HEX = 12  # hex digits in an atomic write's temp file name (.<name>.<hex>.tmp)


def package_version() -> str:
    from dcgan import __version__

    return __version__


# --- Atomic files -------------------------------------------------------------------------------------------

def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename over the target, fsync the folder: a crash
    leaves either the old file or the new one, never a torn one."""
    atomic_write_chunks(path, [data])


def atomic_write_chunks(path: str | os.PathLike, chunks: Iterable[bytes]) -> None:
    """atomic_write_bytes of data made as it is written (a long file rewritten while it is read), never held
    whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = _temp_file(path)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            _name_the_target(e, path)
        raise
    _fsync_dir(path.parent)


def _name_the_target(e: OSError, target: Path, temp: Path | None = None) -> None:
    """An atomic write's error names what was being written, not its temp file or folder (.step-0000100.pt.3f2a...
    .tmp, gone once the error is told), nor nothing (a write that failed: a full disk names no file)."""
    name = None if e.filename is None else os.fsdecode(e.filename)
    if name is None or (Path(name).parent == target.parent and is_temp_name(Path(name).name)):
        e.filename = str(target)
    elif temp is not None and name.startswith(str(temp) + os.sep):  # a file of a folder written whole
        e.filename = str(target) + name[len(str(temp)):]
    if e.filename2 is not None and os.fsdecode(e.filename2) == str(target):
        e.filename2 = None


def _temp_file(path: Path) -> tuple[int, str]:
    """A new file beside `path`, made as mkstemp makes one (exclusively, never through a link) but with the
    permissions open() gives (0o666 less the umask), not mkstemp's owner-only ones: the file it becomes is as
    readable as the run's other files."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(_TEMP_HEX // 2)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def stale_temp_files(folder: str | os.PathLike, target: str = "*") -> list[Path]:
    """The temp files in `folder` that atomic writes of `target` (a name or a glob) began and never renamed into
    place: what a process killed while writing leaves. Only the one writer of a folder may remove them."""
    return sorted(p for p in Path(folder).glob(f".{target}.*.tmp")
                  if is_temp_name(p.name) and not p.is_symlink() and p.is_file())


def is_temp_name(name: str) -> bool:
    """Whether `name` is one an atomic write gives its temp file (_temp_file)."""
    return re.fullmatch(rf"\..+\.[0-9a-f]{{{_TEMP_HEX}}}\.tmp", name) is not None


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save, atomically."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform (Windows)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_folder(out: str | os.PathLike) -> Iterator[Path]:
    """A folder written whole or not at all: the body fills the temp sibling yielded (.<name>.<hex>.tmp), which
    is renamed onto `out` (new, or empty: the caller checks) when the body ends without an error and removed when
    it raises. A kill leaves the temp folder behind; the next write of `out` removes it, known abandoned because
    nothing holds its flock (the writer holds one until the rename), so a concurrent writer's is never touched."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        if (re.fullmatch(rf"\.{re.escape(out.name)}\.[0-9a-f]{{{_TEMP_HEX}}}\.tmp", stale.name)
                and not stale.is_symlink() and stale.is_dir()):
            with _folder_lock(stale) as held:
                if held:
                    shutil.rmtree(stale, ignore_errors=True)
    while True:
        tmp = out.parent / f".{out.name}.{secrets.token_hex(_TEMP_HEX // 2)}.tmp"
        try:
            tmp.mkdir()
            break
        except FileExistsError:
            continue
        except OSError as e:
            _name_the_target(e, out)
            raise
    try:
        with _folder_lock(tmp):
            yield tmp
            if out.exists():
                out.rmdir()
            os.replace(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            _name_the_target(e, out, tmp)
        raise
    _fsync_dir(out.parent)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[bool]:
    """An exclusive flock on a folder for the block; yields whether it was had (False: another process holds
    it). Without flock (Windows) never had, so nothing is taken for abandoned."""
    if fcntl is None:
        yield False
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


# --- Training checkpoints -----------------------------------------------------------------------------------

def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}.pt"


def save_checkpoint(folder: str | os.PathLike, state: dict[str, Any], keep: int | None = None) -> Path:
    """Write a checkpoint for state['step'] and point `last` at it; keep the newest `keep` step files. An older
    one that cannot be removed (protected, or open elsewhere on Windows) stays until a later save removes it: the
    checkpoint written is complete and the run's last, so its save does not fail."""
    folder = Path(folder)
    path = folder / checkpoint_name(state["step"])
    atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION, "package_version": package_version(),
                 **state}, path)
    atomic_write_text(folder / LAST, path.name + "\n")
    if keep is not None:
        for old in sorted(folder.glob("step-*.pt"))[:-keep]:
            if old.name != path.name:
                with contextlib.suppress(OSError):
                    old.unlink(missing_ok=True)
    return path


def resolve_checkpoint(target: str | os.PathLike) -> Path:
    """A run folder (its `last` checkpoint), a checkpoints/ folder or a checkpoint file -> a file path."""
    target = Path(os.path.expanduser(str(target)))
    if target.is_file():
        return target
    for folder in (target / "checkpoints", target):
        pointer = folder / LAST
        if pointer.is_symlink():  # its text would be quoted below: a link could show any file's
            raise CheckpointError(f"{pointer} is a link; a run's {LAST} is a file naming its newest checkpoint: "
                                  f"remove the link and pass a checkpoint file with --checkpoint")
        if pointer.is_file():
            with open(pointer, "rb") as f:
                name = f.read(64).decode("utf-8", "replace").strip()  # a checkpoint's name, e.g. step-0001000.pt
            path = folder / name
            if name and path.is_file() and path.parent == folder:
                return path
            what = (f"names {path.name}, which is missing" if re.fullmatch(r"step-\d+\.pt", name) else
                    "does not name a checkpoint" if name else "is empty (a copy of it did not finish)")
            newest = sorted(folder.glob("step-*.pt"))
            choose = (f"give the newest, --checkpoint {newest[-1].name}" if newest else
                      f"pass a checkpoint file from {folder} with --checkpoint")
            raise CheckpointError(f"{pointer} {what}; {choose}")
    if target.is_dir() and (target / GENERATOR_FILE).is_file():
        return target / GENERATOR_FILE
    if not target.exists():
        raise CheckpointError(f"{target} does not exist; give a run folder (runs/<name>) or a checkpoint file")
    if (target / "checkpoints").is_dir():  # a run folder: still before its first checkpoint, or killed there
        from dcgan.rundir import holder

        if holder(target) is not None:
            raise CheckpointError(f"{target} is still training and has no checkpoint yet (a run writes one every "
                                  f"--checkpoint-every steps and when it stops); try again after its first")
        raise CheckpointError(f"{target} has no checkpoint: its training ended before its first checkpoint (a run "
                              f"writes one every --checkpoint-every steps and when it stops), so there is nothing to "
                              f"load; `dcgan train --resume {target}` trains it again from step 0")
    raise CheckpointError(f"{target} holds no checkpoint (no checkpoints/last); is it a run folder made by "
                          f"`dcgan train`?")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a training checkpoint with weights-only unpickling (no code in the file can run)."""
    path = Path(path)
    try:
        kind = _sniff(path)
    except FileNotFoundError as e:
        raise CheckpointError(f"checkpoint {path} does not exist") from e
    except OSError as e:  # a folder, no permission
        raise CheckpointError(f"{path} cannot be read as a checkpoint ({e.strerror or e}); {_GIVE}") from e
    if kind in _NEVER_LOADED:  # known not to be one: torch is not asked (a TorchScript zip would make it warn)
        raise CheckpointError(_unreadable(path, kind, None))
    try:
        with warnings.catch_warnings():  # torch's advice on files we refuse anyway is not for our users
            warnings.filterwarnings("ignore", message=".*(TorchScript|pickle protocol)", category=UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as e:
        raise CheckpointError(f"checkpoint {path} does not exist") from e
    except Exception as e:  # truncated zips, foreign pickles refused by the weights-only loader, ...
        raise CheckpointError(_unreadable(path, kind, e)) from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dcgan checkpoint (no '{FORMAT}' marker); {_GIVE}")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer dcgan ({state.get('package_version')}); "
                              f"upgrade the package to load it")
    if type(state.get("step")) is not int or not isinstance(state.get("config"), dict):
        raise CheckpointError(f"{path} is damaged: its step or config is not one dcgan writes; {_damaged(path)}")
    return state


# --- Why a file is not a checkpoint -------------------------------------------------------------------------
# torch's errors for these are long, cut mid-sentence by a one-line message, and advise turning the weights-only
# loader off (which would let the file run code): the file's own first bytes say what it is, in our words.

_GIVE = "give a run folder (runs/<name>), a step-*.pt file from its checkpoints/ or its generator.safetensors"


def _damaged(path: Path) -> str:
    """What to use instead of a damaged checkpoint: the newest other one beside it, if any."""
    others = sorted(p.name for p in path.parent.glob("step-*.pt") if p.name != path.name)
    if others:
        return (f"use another checkpoint of the run, e.g. --checkpoint {others[-1]}, or its generator.safetensors, "
                f"or copy the file again")
    return "use the run's generator.safetensors, or copy the file again"

_NEVER_LOADED = ("empty", "cut-zip", "changed", "torchscript", "onnx", "safetensors", "text", "other")


def _sniff(path: Path) -> str:
    """What a file is, from its first bytes (and an ONNX file's name): torch's zip or pickle formats, or not."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                # torch.save stores each tensor's CRC-32 and torch.load does not check them: changed bytes
                # would load as weights. Checking costs a read of the file (5 MB: 6 ms).
                damaged = z.testzip() is not None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return "cut-zip"  # no central directory: the end of the archive is missing
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        return "changed" if damaged else "zip"
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"  # torch's format before the zip one (protocol 2), or a plain pickle
    if len(head) > 8 and head[8:10] == b'{"' and int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    return "text" if _is_text(head) else "other"


def _is_text(head: bytes) -> bool:
    """UTF-8 without control characters other than tabs and line ends (a config, a log, a CSV)."""
    if any((b < 32 and b not in b"\t\n\r\f") or b == 127 for b in head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3  # only a character cut by the 4096-byte read
    return True


def _unreadable(path: Path, kind: str, error: Exception | None) -> str:
    """One line: what `path` is instead of a checkpoint, and what to give (or do) instead."""
    what = {
        "empty": f"it is empty (0 bytes): a copy or write of it did not finish; {_damaged(path)}",
        "cut-zip": f"it is truncated (a zip archive whose end is missing: a copy or write of it did not finish); "
                   f"{_damaged(path)}",
        "changed": f"its bytes were changed after it was written (a stored checksum does not match: a disk or a "
                   f"copy damaged it); {_damaged(path)}",
        "torchscript": f"it is a TorchScript export (`dcgan export --format torchscript`; torch.jit.load runs it); "
                       f"{_GIVE}",
        "onnx": f"it is an ONNX export (onnxruntime runs it); {_GIVE}",
        "safetensors": "it is a safetensors file; if it is a generator export, give it the name "
                       "generator.safetensors (the suffix says how to read a file)",
        "text": f"it is a text file ({path.suffix or 'no suffix'}); {_GIVE}",
        "other": f"it is not a file torch.save writes (neither a zip archive nor a pickle); {_GIVE}",
        # A truncated pickle names a cut-off global, so the loader's reasons are not told apart.
        "pickle": f"it is a pickle (torch's old format or Python's) that the weights-only loader cannot read, "
                  f"holding Python objects besides weights or cut short (dcgan writes zip archives, and never "
                  f"loads code from a file); {_GIVE}",
    }.get(kind)
    if what is None:  # torch's zip format, yet the load failed
        refused = re.search(r"GLOBAL ([\w.]+)", str(error)) if isinstance(error, pickle.UnpicklingError) else None
        what = (f"it holds Python objects besides weights and plain values ({refused.group(1)}), and dcgan never "
                f"loads code from a file; {_GIVE}" if refused else
                f"its contents do not read back as weights (damaged or truncated); {_damaged(path)}")
    return f"{path} is not a readable dcgan checkpoint: {what}"


# --- Safetensors files (the generator export, the metrics' reference cache, the domain classifier) -------

def write_safetensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], format: str, version: int,
                      **meta: str) -> None:
    """Tensors and string metadata, marked with `format` and `version`, written atomically (no pickle at all)."""
    metadata = {"format": format, "format_version": str(version), **meta}
    atomic_write_bytes(path, save(tensors, metadata=metadata))


def read_safetensors(path: str | os.PathLike, format: str) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
    """(tensors, metadata) of a safetensors file marked `format`, in one read; None when it is a safetensors file
    of another kind. A file that is missing, cut short or not safetensors at all is a CheckpointError of one line
    (the caller adds what to do)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != format:
                return None
            return {name: f.get_tensor(name) for name in f.keys()}, meta
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({first_line(e)}): cut short or "
                              f"not one") from e


# --- Exported generator -------------------------------------------------------------------------------------

GENERATOR_FORMAT = "dcgan-generator"


def export_generator(path: str | os.PathLike, generator: torch.nn.Module, config: dict[str, Any],
                     step: int, class_names: Sequence[str] = ()) -> None:
    """G's weights and buffers as safetensors, its config (and a conditional G's class names, in label order) in
    the metadata."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    names = {"class_names": json.dumps(list(class_names))} if class_names else {}
    write_safetensors(path, tensors, GENERATOR_FORMAT, FORMAT_VERSION, config=json.dumps(config), step=str(step),
                      package_version=package_version(), **names)


def load_generator_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any], int, list[str]]:
    """(state_dict, config, step, class names) from an exported generator.safetensors."""
    path = Path(path)
    try:
        found = read_safetensors(path, GENERATOR_FORMAT)
    except CheckpointError as e:
        raise CheckpointError(f"{e}; export the generator again, or give the run folder or a checkpoint") from e
    if found is None:
        raise CheckpointError(f"{path} is a safetensors file but not a dcgan generator export (no "
                              f"'{GENERATOR_FORMAT}' marker in its metadata); {_GIVE}")
    tensors, meta = found
    try:
        config = json.loads(meta["config"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path} is a dcgan generator export without a readable config in its metadata; "
                              f"export the generator again, or give the run folder or a checkpoint") from e
    names = _names(meta.get("class_names"))
    return tensors, config, int(meta.get("step", 0)), names


def _names(text: str | None) -> list[str]:
    """Class names as stored (a JSON list of strings); none when absent or not such a list."""
    try:
        names = json.loads(text) if text else []
    except ValueError:
        return []
    return names if isinstance(names, list) and all(isinstance(n, str) for n in names) else []
