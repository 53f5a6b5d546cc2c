"""The errors of the run layer; the command line turns each into one line and an exit status."""

from __future__ import annotations

__all__ = [
    "RunError",
    "ConfigError",
    "UsageError",
    "RunDirectoryError",
    "CheckpointError",
    "CheckpointMismatchError",
    "NonFiniteLossError",
    "RunInterrupted",
]


class RunError(Exception):
    """Base class of the run layer's errors."""

    #: The exit status ``hyperfunc run`` ends with (2: the user's mistake).
    exit_status = 2


class ConfigError(RunError, ValueError):
    """One or more run settings are bad (the message lists every one)."""


class UsageError(RunError, ValueError):
    """A command-line argument names something that does not exist or does not apply."""


class RunDirectoryError(RunError, FileExistsError):
    """The run folder can't be used as asked: it holds another run, is not ours, is locked, ..."""


class CheckpointError(RunError, ValueError):
    """A checkpoint file is corrupted, truncated or holds something that is not plain data."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was written by another method, target, task or configuration."""


class NonFiniteLossError(RunError, FloatingPointError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""

    exit_status = 1


class RunInterrupted(RunError):
    """Ctrl-C or SIGTERM stopped the run after a checkpoint was written."""

    exit_status = 130
