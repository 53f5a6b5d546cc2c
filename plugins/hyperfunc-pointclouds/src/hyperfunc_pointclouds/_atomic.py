"""Atomic file writes: a temporary file in the same folder, then :func:`os.replace`."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then rename it onto ``path``.

    Readers see either the old file or the complete new one, never a partial
    write; if ``write`` fails, the temporary file is removed and ``path`` is left
    as it was. The temporary file is created by ``write`` itself (not
    :func:`tempfile.mkstemp`), so the result gets the usual permissions.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
