"""Omniglot (Lake et al. 2015) at 28×28 from a local ``omniglot_28.npz``."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from hyperfunc.datasets._npz import read_npz
from hyperfunc.datasets._root import data_root, find_first
from hyperfunc.datasets._rotations import with_rotations

__all__ = ["OMNIGLOT_FILE", "load_omniglot"]

#: The file :func:`load_omniglot` reads.
OMNIGLOT_FILE = "omniglot_28.npz"

_SPLITS = ("background", "evaluation")


def load_omniglot(
    root: str | os.PathLike[str] | None = None,
    split: str = "background",
    *,
    rotations: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """One Omniglot split as images ``[classes, 20, 1, 28, 28]``, ink = 1, paper = 0.

    Reads ``omniglot_28.npz`` (or ``omniglot/omniglot_28.npz``) under ``root``
    (default ``$HYPERFUNC_DATA``): an ``np.savez`` archive whose key
    ``{split}_images`` holds uint8 images ``[classes, 20 drawers, 28, 28]`` with
    ink = 255, as in hyperfunc's shared data (28×28 area-averaged from Lake's
    105×105 images; classes ordered by alphabet, then character).

    Args:
        root: the data directory.
        split: ``"background"`` (964 characters of 30 alphabets, for meta-training)
            or ``"evaluation"`` (659 characters of 20 other alphabets).
        rotations: add each character rotated by 90°, 180° and 270° as three new
            classes (the standard augmentation: 964 → 3,856); see
            :func:`with_rotations` for the order.
        dtype: a floating dtype (ink = 1.0), or ``torch.uint8`` for the stored
            bytes (ink = 255, a quarter of the memory; ``Episodes(dtype=torch.float32)``
            converts each meta-batch).

    Raises:
        DataNotFoundError: no such file (the message lists the paths searched).
        ValueError: an unknown split, or a file without that split.
    """
    if split not in _SPLITS:
        raise ValueError(f"unknown Omniglot split {split!r}; choose 'background' or 'evaluation'")
    if dtype != torch.uint8 and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(
            f"dtype must be torch.uint8 or a floating dtype such as torch.float32, got {dtype!r}"
        )
    base = data_root(root, "omniglot")
    path = find_first(base, [OMNIGLOT_FILE, f"omniglot/{OMNIGLOT_FILE}"], "omniglot")
    key = f"{split}_images"
    raw = read_npz(path, (key,))[key]  # a missing key or a damaged file: ValueError naming the file
    if raw.ndim != 4 or raw.dtype != np.uint8:
        raise ValueError(
            f"{key!r} in {str(path)!r} is {raw.dtype} {raw.shape}, expected uint8 [classes, drawers, H, W]"
        )
    images = torch.from_numpy(raw)[:, :, None]
    if rotations:
        images = with_rotations(images)  # rotate the uint8 images: 4× less memory traffic
    if dtype == torch.uint8:
        return images
    return images.to(dtype).div_(255.0)

