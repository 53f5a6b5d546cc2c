"""Where datasets live on disk: an argument, or the ``HYPERFUNC_DATA`` environment variable."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DATA_ENV", "DataNotFoundError", "data_root", "find_first"]

#: Environment variable naming the default data directory.
DATA_ENV = "HYPERFUNC_DATA"


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not where the loader looked (the message lists the places)."""


def data_root(root: str | os.PathLike[str] | None, dataset: str) -> Path:
    """``root`` if given, else ``$HYPERFUNC_DATA``; raises if neither is usable."""
    if root is None:
        env = os.environ.get(DATA_ENV)
        if not env:
            raise DataNotFoundError(
                f"no data directory for {dataset}: pass root=... (or --data on the command "
                f"line) or set the environment variable {DATA_ENV}=/path/to/data"
            )
        root = env
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(
            f"data directory {str(path)!r} for {dataset} does not exist; pass another root or set {DATA_ENV}"
        )
    return path


def find_first(root: Path, candidates: Sequence[str], dataset: str) -> Path:
    """The first of ``candidates`` (relative to ``root``) that exists, or a clear error."""
    for c in candidates:
        if (root / c).exists():
            return root / c
    looked = "\n  ".join(str(root / c) for c in candidates)
    raise DataNotFoundError(
        f"can't find {dataset} under {str(root)!r}. Looked for:\n  {looked}\n"
        f"Put the files there, pass another root, or set {DATA_ENV}."
    )
