"""``metrics.jsonl`` (a line per logged step and per evaluation) and optional TensorBoard files."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import IO, Any

from hyperfunc.run._errors import ConfigError
from hyperfunc.run._folder import strict_json

__all__ = ["MetricsLog", "check_tensorboard"]

TENSORBOARD_HINT = (
    "--tensorboard needs the tensorboard package: pip install 'torch-hyperfunc[tensorboard]' "
    "(or drop --tensorboard; metrics.jsonl is always written)"
)


def check_tensorboard() -> None:
    """Raise :class:`~hyperfunc.run.ConfigError` unless ``torch.utils.tensorboard`` can be imported."""
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError(TENSORBOARD_HINT) from None


class MetricsLog:
    """Appends one strict-JSON object per line to ``path`` (and scalars to TensorBoard when asked).

    :meth:`tell` is the file's length, saved in each checkpoint; :meth:`truncate`
    on resume drops the lines written after it, so a resumed run's file equals an
    uninterrupted one's (timings aside).
    """

    def __init__(self, path: Path | None, tensorboard: Path | None = None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._tb: Any = None
        if path is not None:
            self._file = open(path, "a", encoding="utf-8")
        if tensorboard is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(tensorboard))

    def tell(self) -> int:
        """The number of bytes written so far."""
        return 0 if self._file is None else self._file.tell()

    def truncate(self, size: int) -> None:
        """Drop everything after the first ``size`` bytes."""
        if self._file is not None and size < self._file.seek(0, 2):
            self._file.truncate(size)
            self._file.seek(size)

    def log(self, record: dict[str, Any], global_step: int) -> None:
        """Write ``record`` as a line; numbers also go to TensorBoard as ``phase/key``."""
        if self._file is not None:
            self._file.write(strict_json(record, indent=None) + "\n")
            self._file.flush()
        if self._tb is not None:
            prefix = record.get("phase", "run")
            for key, value in record.items():
                if isinstance(value, numbers.Real) and not isinstance(value, bool) and key != "step":
                    self._tb.add_scalar(f"{prefix}/{key}", float(value), global_step)

    def close(self) -> None:
        """Close the files."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
