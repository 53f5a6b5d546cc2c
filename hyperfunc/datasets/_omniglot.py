"""Omniglot (Lake et al. 2015) at 28×28: from the cached ``omniglot_28.npz`` or the authors' zips."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hyperfunc.datasets._npz import read_npz
from hyperfunc.datasets._omniglot_layout import OMNIGLOT_SPLITS, find_omniglot_split, read_omniglot_split
from hyperfunc.datasets._root import DATA_ENV, DataNotFoundError, data_root
from hyperfunc.datasets._rotations import with_rotations

__all__ = ["OMNIGLOT_FILE", "load_omniglot", "prepare_omniglot"]

#: The file :func:`load_omniglot` reads.
OMNIGLOT_FILE = "omniglot_28.npz"
_CACHED = (OMNIGLOT_FILE, f"omniglot/{OMNIGLOT_FILE}")


def load_omniglot(
    root: str | os.PathLike[str] | None = None,
    split: str = "background",
    *,
    rotations: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """One Omniglot split as images ``[classes, 20, 1, 28, 28]``, ink = 1, paper = 0.

    Reads, under ``root`` (default ``$HYPERFUNC_DATA``), the first of:

    * ``omniglot_28.npz`` (or ``omniglot/omniglot_28.npz``), the fast cached form
      that ``hyperfunc data prepare omniglot`` (:func:`prepare_omniglot`) writes: an
      ``np.savez`` archive whose key ``{split}_images`` holds uint8 images
      ``[classes, 20 drawers, 28, 28]`` with ink = 255 (28×28 area-averaged from
      Lake's 105×105 images; classes ordered by alphabet, then character);
    * the authors' layout, ``images_{split}.zip`` or its unpacked folder
      ``images_{split}/`` (also under ``omniglot/``, or torchvision's
      ``omniglot-py/``), decoded on every call (a few seconds; prepare once to skip it).

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
    if split not in OMNIGLOT_SPLITS:
        raise ValueError(f"unknown Omniglot split {split!r}; choose 'background' or 'evaluation'")
    if dtype != torch.uint8 and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(
            f"dtype must be torch.uint8 or a floating dtype such as torch.float32, got {dtype!r}"
        )
    base = data_root(root, "omniglot")
    key = f"{split}_images"
    cached = next((base / c for c in _CACHED if (base / c).is_file()), None)
    source = find_omniglot_split(base, split) if cached is None else None
    if cached is not None:
        path, raw = cached, read_npz(cached, (key,))[key]  # missing key / damaged file: names the file
    elif source is not None:
        path, raw = source, read_omniglot_split(source, split)[key]
    else:
        looked = [str(base / c) for c in _CACHED] + [
            f"{base / folder}images_{split}[.zip]" for folder in ("", "omniglot/", "omniglot-py/")
        ]
        raise DataNotFoundError(
            f"can't find Omniglot under {str(base)!r}. Looked for:\n  " + "\n  ".join(looked) + "\nGet it "
            f"with `hyperfunc data fetch omniglot --dest {base}`, pass another root, or set {DATA_ENV}."
        )
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



def prepare_omniglot(
    source: str | os.PathLike[str], dest: str | os.PathLike[str] | None = None
) -> Path:
    """Build ``omniglot_28.npz`` from the authors' zips or folders; returns its path.

    ``source`` is a directory holding ``images_background`` and ``images_evaluation``
    (zips as downloaded from github.com/brendenlake/omniglot, ``python/``, or their
    unpacked folders; also under ``omniglot/`` or torchvision's ``omniglot-py/``).
    Both splits are read, checked (every character has its 20 drawers) and written
    to ``dest/omniglot_28.npz`` (default: ``source``) in one step: the file appears
    whole or not at all. :func:`load_omniglot` then reads it in a fraction of a second.
    The command line's ``hyperfunc data prepare omniglot SRC`` calls this.

    Raises:
        DataNotFoundError: a split is missing (the message lists where it looked).
        ValueError: a split is incomplete or holds a file that is not a 105×105 PNG.

    Examples:
        >>> from hyperfunc.datasets import prepare_omniglot
        >>> prepare_omniglot("no/such/folder")
        Traceback (most recent call last):
        ...
        hyperfunc.datasets._root.DataNotFoundError: Omniglot source 'no/such/folder' is not a directory
    """
    from hyperfunc.run import atomic_write  # the run layer's: a temporary file, then a rename

    base = Path(source).expanduser()
    if not base.is_dir():
        raise DataNotFoundError(f"Omniglot source {str(source)!r} is not a directory")
    out = Path(dest).expanduser() if dest is not None else base
    if not out.is_dir():
        raise DataNotFoundError(f"destination {str(out)!r} is not a directory; create it first")
    splits = {split: find_omniglot_split(base, split) for split in OMNIGLOT_SPLITS}
    missing = [split for split, found in splits.items() if found is None]
    if missing:
        raise DataNotFoundError(
            f"no Omniglot {' or '.join(missing)} split under {str(base)!r}: expected "
            + " and ".join(f"images_{s}.zip (or the folder images_{s}/)" for s in missing)
            + ", as in https://github.com/brendenlake/omniglot/tree/master/python, or "
            "`hyperfunc data fetch omniglot --dest DIR`"
        )
    arrays: dict[str, Any] = {}  # Any: numpy's stubs type savez's **kwds like its allow_pickle
    for split, found in splits.items():
        assert found is not None
        arrays.update(read_omniglot_split(found, split))
    path = out / OMNIGLOT_FILE
    atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))
    return path
