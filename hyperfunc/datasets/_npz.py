"""Reading ``.npz`` archives with errors that name the file (never unpickling)."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["read_npz"]


def read_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the ``.npz`` file ``path`` (``allow_pickle=False``).

    Raises:
        ValueError: the file is corrupted or truncated, holds pickled objects, or lacks
            one of ``keys``; the message names the file.
    """
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as archive:  # closed on every error
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise ValueError(
                    f"{str(path)!r} has no {', '.join(map(repr, missing))} (it has "
                    f"{', '.join(sorted(archive.files)) or 'nothing'})"
                )
            return {k: archive[k] for k in keys}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{str(path)!r} is not a readable .npz file (corrupted or truncated: {e})") from None
    except ValueError as e:
        if str(path) in str(e):
            raise
        raise ValueError(
            f"{str(path)!r} is not a plain .npz file of arrays (it is corrupted, or holds pickled objects, "
            "which are never loaded); replace it with a good copy"
        ) from None
