"""Reading CIFAR-10's python batches without running code from the file.

``pickle.load`` calls whatever functions a pickle names, so a tampered batch
could run any command. :func:`safe_unpickle` accepts only what a CIFAR-10
python batch holds: plain containers, bytes, strings and numbers (pickle opcodes
that need no globals) and numpy arrays (``_reconstruct``, ``ndarray`` and
``dtype``). Any other global is refused before it is looked up, let alone called.
"""

from __future__ import annotations

import importlib
import os
import pickle
from typing import Any

import numpy as np

__all__ = ["UnsafePickleError", "safe_unpickle"]

_REFUSED = (
    "{path!r} is not a CIFAR-10 batch: it asks for the Python global {name!r}, and a CIFAR-10 "
    "python batch needs only containers, bytes, numbers and numpy arrays. Nothing from the file "
    "was run. Re-download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, "
    "or use an .npz copy (cifar10.npz with x_train, y_train, x_test, y_test)."
)
_CORRUPT = (
    "can't read {path!r}: it is not a valid pickle (truncated or corrupted?): {error}. "
    "Re-download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html."
)


class UnsafePickleError(ValueError):
    """A pickle asks for a global that a CIFAR-10 batch never needs (it is refused, not run)."""


def _allowed() -> dict[tuple[str, str], Any]:
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")  # numpy >= 2
    except ImportError:
        multiarray = importlib.import_module("numpy.core.multiarray")
    reconstruct = multiarray._reconstruct
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,  # numpy 1.x (and the original files)
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,  # numpy 2.x
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }


_ALLOWED = _allowed()


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler whose only globals are numpy's array reconstruction."""

    def __init__(self, file: Any, path: str, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise UnsafePickleError(_REFUSED.format(path=self._path, name=f"{module}.{name}"))
        return found


def safe_unpickle(path: str | os.PathLike[str], *, encoding: str = "bytes") -> Any:
    """Unpickle a CIFAR-10 python batch, refusing every global that such a batch does not need.

    Args:
        path: the pickle file (e.g. ``cifar-10-batches-py/data_batch_1``).
        encoding: how Python 2 strings are decoded; ``"bytes"`` (the default, as
            CIFAR-10's own instructions use) keeps them as bytes, so the keys are
            ``b"data"`` and ``b"labels"``.

    Returns:
        The unpickled object (for a CIFAR-10 batch, a dict).

    Raises:
        UnsafePickleError: the file names any other global (e.g. ``os.system``):
            it is not a CIFAR-10 batch, and nothing from it was run.
        ValueError: the file is not a valid pickle (truncated or corrupted).
    """
    name = os.fspath(path)
    with open(path, "rb") as f:
        try:
            return _CifarUnpickler(f, name, encoding).load()
        except UnsafePickleError:
            raise
        except Exception as exc:  # any failure to decode means a damaged file
            raise ValueError(_CORRUPT.format(path=name, error=f"{type(exc).__name__}: {exc}")) from exc
