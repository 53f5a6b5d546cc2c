"""Argument checks shared by the public functions (every message names the argument)."""

from __future__ import annotations

from typing import Any, TypeGuard

import numpy as np
import torch
from torch import Tensor

__all__ = ["check_positive", "check_seed", "is_int", "point_problems", "require_float_tensor"]


def is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    """Whether ``value`` is a Python or NumPy integer (``bool`` excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_positive(where: str, **values: object) -> None:
    """Raise ``ValueError`` naming every one of ``values`` that is not a positive int."""
    bad = [f"{k}={v!r}" for k, v in values.items() if not is_int(v) or int(v) < 1]
    if bad:
        raise ValueError(f"{where}: {', '.join(bad)}; expected a positive int (1, 2, ...)")


def check_seed(where: str, seed: object) -> int:
    """``seed`` as an int, or a ``ValueError`` if it is not a non-negative int."""
    if not is_int(seed) or int(seed) < 0:
        raise ValueError(f"{where}: seed must be a non-negative int, got {seed!r}")
    return int(seed)


def require_float_tensor(where: str, name: str, x: object) -> Tensor:
    """``x`` if it is a floating-point tensor, else a ``TypeError`` that says how to fix it."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{where}: {name} must be a torch.Tensor of points, got {type(x).__name__}; "
            f"convert it with torch.as_tensor({name}, dtype=torch.float32)"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{where}: {name} must hold floating-point coordinates, got {x.dtype}; "
            f"cast it with {name}.float()"
        )
    return x


def _index(flat: int, shape: torch.Size) -> list[int]:
    return [int(i) for i in np.unravel_index(flat, tuple(shape))]


def point_problems(name: str, x: Tensor, *, batch_ndim: int | None = None) -> list[str]:
    """Everything wrong with ``x`` as points ``[..., N, 3]`` (empty list if nothing).

    Args:
        name: the argument's name, for the messages.
        x: a floating-point tensor.
        batch_ndim: the exact number of leading batch dimensions required
            (``None``: any number).
    """
    shape = list(x.shape)
    if batch_ndim is None:
        expected = "[..., N, 3]"
        ok_rank = x.dim() >= 2
    else:
        expected = "[" + ", ".join([*"BCDE"[:batch_ndim], "N", "3"]) + "]"
        ok_rank = x.dim() == batch_ndim + 2
    if not ok_rank or x.shape[-1] != 3:
        hint = ""
        if x.dim() >= 2 and x.shape[-2] == 3 and x.shape[-1] != 3:
            hint = f"; the coordinates look like they are on axis -2, use {name}.transpose(-1, -2)"
        elif x.dim() == 1 and x.shape[0] == 3:
            hint = f"; for a single point use {name}.reshape(1, 3)"
        elif batch_ndim is not None and x.dim() == batch_ndim + 1 and x.shape[-1] == 3:
            hint = f"; for a single point set add a batch axis: {name}.unsqueeze(0)"
        return [
            f"{name}: expected points of shape {expected} (x, y, z on the last axis), "
            f"got {shape}{hint}"
        ]
    if x.shape[-2] == 0:
        return [
            f"{name}: the point sets are empty (shape {shape}, N = 0); every set needs at "
            "least one point"
        ]
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int((~finite).sum()) - n_nan
        first = _index(int((~finite).reshape(-1).int().argmax()), x.shape)
        return [
            f"{name}: {n_nan} coordinate(s) are NaN and {n_inf} infinite (the first in the point "
            f"at index {first[:-1]}); drop or repair those points first, e.g. "
            f"{name}[torch.isfinite({name}).all(-1)] for a single set"
        ]
    return []
