"""The errors a user can cause. Each carries a message that says what was wrong and what to do.

Interfaces turn them into one line (the CLI: exit code 2; the server: HTTP 4xx) instead of a traceback.
"""


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
