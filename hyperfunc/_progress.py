"""Progress bars: tqdm when installed (``hyperfunc[progress]``), else a plain text bar."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["progress"]


class _TextBar:
    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled
        self.n, self.start, self.last, self.post = 0, time.perf_counter(), 0.0, ""
        # on a terminal: redraw in place twice a second; in a log file: a line per quarter
        self.tty = sys.stderr.isatty()

    def __iter__(self) -> Iterator[int]:
        for i in range(self.total):
            yield i
            self.n = i + 1
            now = time.perf_counter()
            quarter = self.n * 4 // max(1, self.total) != (self.n - 1) * 4 // max(1, self.total)
            due = now - self.last > 0.5 if self.tty else quarter
            if self.enabled and (due or self.n == self.total):
                self.last = now
                frac = self.n / max(1, self.total)
                bar = "#" * int(24 * frac)
                rate = self.n / max(now - self.start, 1e-9)
                line = f"{self.desc} [{bar:<24}] {self.n}/{self.total} {rate:6.1f} it/s {self.post}"
                sys.stderr.write(f"\r{line}" if self.tty else f"{line}\n")
                if self.tty and self.n == self.total:
                    sys.stderr.write("\n")
                sys.stderr.flush()

    def set_postfix_str(self, s: str) -> None:
        self.post = s


def progress(total: int, desc: str, enabled: bool = True) -> Any:
    """An iterable over ``range(total)`` that shows a progress bar on stderr.

    tqdm's bar when tqdm is installed (``pip install torch-hyperfunc[progress]``), else a
    plain text bar (redrawn in place on a terminal, a line per quarter in a log
    file). The returned object has ``set_postfix_str(text)`` for live numbers
    (loss). Plugins use it so their long loops look like hyperfunc's.

    Args:
        total: the number of iterations.
        desc: the label in front of the bar.
        enabled: ``False`` iterates silently.

    Examples:
        >>> import hyperfunc as hf
        >>> bar = hf.progress(3, "steps", enabled=False)
        >>> for step in bar:
        ...     bar.set_postfix_str(f"loss {1.0 / (step + 1):.2f}")
        >>> step
        2
    """
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _TextBar(total, desc, enabled)
    return tqdm(range(total), desc=desc, disable=not enabled, leave=True, dynamic_ncols=True)
