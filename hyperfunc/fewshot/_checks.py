"""Argument checks and per-batch random generators shared by the episode samplers."""

from __future__ import annotations

from typing import Any, TypeGuard

import numpy as np
import torch

__all__ = ["check_sizes", "check_positive", "check_seed", "batch_generator"]


def _is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_positive(**values: object) -> None:
    """Raise ``ValueError`` naming the first of ``values`` that is not a positive int."""
    for k, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{k} must be a positive int, got {v!r}")


def check_sizes(**sizes: object) -> None:
    """Raise if any of ``sizes`` is not a positive int, naming every bad one at once.

    Raises:
        TypeError: some size is not an int (a bool, a float, ...).
        ValueError: every size is an int, but some are zero or negative.
    """
    wrong_type = [f"{k}={v!r} ({type(v).__name__})" for k, v in sizes.items() if not _is_int(v)]
    if wrong_type:
        raise TypeError(f"sizes must be positive ints; got {', '.join(wrong_type)}")
    bad = [f"{k}={v}" for k, v in sizes.items() if _is_int(v) and int(v) < 1]
    if bad:
        raise ValueError(f"sizes must be positive ints (>= 1); got {', '.join(bad)}. Pass 1 or more.")


def check_seed(seed: object, what: str = "seed") -> int:
    """``seed`` as an int, or a clear error if it is not a non-negative int."""
    if not _is_int(seed) or int(seed) < 0:
        raise ValueError(f"{what} must be a non-negative int, got {seed!r}")
    return int(seed)


def batch_generator(seed: int, index: int) -> torch.Generator:
    """A fresh CPU generator for meta-batch ``index`` of a sampler seeded with ``seed``.

    The two numbers are mixed with :class:`numpy.random.SeedSequence`, so every
    ``(seed, index)`` pair gets its own well-spread 64-bit seed and batch ``i``
    does not depend on which batches were drawn before it.
    """
    hi, lo = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed((int(hi) << 32) | int(lo))
