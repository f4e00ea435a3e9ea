"""The errors a user can cause. Each carries a message that says what was wrong and what to do.

Interfaces turn them into one line (the CLI: exit code 2; the server: HTTP 4xx) instead of a traceback.
"""

import bisect
import errno
import re
from pathlib import Path

# Messages name a run's options as the command line spells them (--batch-size). The command line shows them so;
# elsewhere (Python, the server's answers) an option of TrainConfig reads as its field name (batch_size), unless
# it is part of a command the message quotes (`dcgan train-classifier --dataset mnist`).
FLAG_STYLE = {"on": False}  # set by dcgan.cli.main while a command runs
# A value written with the flag (--loss=hinge) reads as Python's keyword argument: loss='hinge'.
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?:=([^\s,;()]+))?")
_NUMBER = re.compile(r"-?[0-9.]+(?:e-?[0-9]+)?")


def option_names(text: str) -> str:
    """A message's --flags as TrainConfig's field names (--batch-size=8 -> batch_size=8), commands it quotes kept."""
    from dcgan.config import TrainConfig

    fields = {f.name for f in TrainConfig.__dataclass_fields__.values()}
    # Where each clause starts and where `dcgan ` commands are quoted, found once: a message may hold a long
    # user-given value (a server's request), so each flag is placed by bisection, never by rescanning the text.
    clauses = [0, *(m.end() for m in re.finditer(r"[;:(]|\. ", text))]
    commands = [m.start() for m in re.finditer("dcgan ", text)]

    def name(match: re.Match) -> str:
        field = match.group(1).replace("-", "_")
        if field not in fields:
            return match.group(0)
        clause_start = clauses[bisect.bisect_right(clauses, match.start()) - 1]
        quoted = bisect.bisect_left(commands, clause_start) < bisect.bisect_left(commands, match.start())
        if quoted:
            return match.group(0)
        value = match.group(2)
        if value is None:
            return field
        return f"{field}={value if _NUMBER.fullmatch(value) else repr(value)}"

    return _FLAG.sub(name, text)


class DcganError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""

    def __str__(self) -> str:
        text = super().__str__()
        return text if FLAG_STYLE["on"] else option_names(text)


class ConfigError(DcganError):
    """A configuration value is invalid; `field` names it (for forms and HTTP 422 answers)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class DiskError(DcganError):
    """Files could not be written or read: a full or read-only disk, a folder removed. Not the user's options, so
    the command line ends with 1, not 2."""

    exit_code = 1


def disk_error(e: OSError) -> str:
    """An OSError of a file operation as one line: what failed and where, and what to do."""
    where = f" ({e.filename})" if e.filename else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free some space on that disk, or choose a folder on another one"
    elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        advice = "choose a folder you can write to"
    else:
        advice = "check that the folder is there and can be written"
    return f"{e.strerror or e}{where}; {advice}"


class DataError(DcganError):
    """A dataset cannot be found, read or decoded."""


class CheckpointError(DcganError):
    """A checkpoint or run folder is missing, truncated or not ours."""


class RunFolderError(CheckpointError):
    """A run folder cannot be used safely: a link in it leads outside it."""


class RunBusyError(RunFolderError):
    """Another live trainer is writing the run folder."""


class RunFolderGone(RunFolderError):
    """The run folder was deleted or moved while its run wrote it: nothing is left to write to or resume."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """A foreign exception (a network or library error, often several lines) as a short clause for a one-line
    message."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:limit]


def refuse_a_file_in_the_way(folder: Path, option: str,
                             advice: str = "choose a folder for the run (it is made if missing)") -> None:
    """A ConfigError naming `option` when `folder`, or one above it, is a file: no folder can be there."""
    blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        where = f"{blocking} is a file" if blocking == folder else f"{folder} is inside {blocking}, a file"
        raise ConfigError(f"{option}: {where}, not a folder; {advice}", field=option[2:].replace("-", "_"))
