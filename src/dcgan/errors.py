"""The errors a user can cause. Each carries a message that says what was wrong and what to do.

Interfaces turn them into one line (the CLI: exit code 2; the server: HTTP 4xx) instead of a traceback.
"""

from pathlib import Path


class DcganError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


class ConfigError(DcganError):
    """A configuration value is invalid; `field` names it (for forms and HTTP 422 answers)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class DataError(DcganError):
    """A dataset cannot be found, read or decoded."""


class CheckpointError(DcganError):
    """A checkpoint or run folder is missing, truncated or not ours."""


class RunFolderError(CheckpointError):
    """A run folder cannot be used safely: a link in it leads outside it."""


class RunBusyError(RunFolderError):
    """Another live trainer is writing the run folder."""


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
