"""Reading point clouds from ``.npy`` files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hyperfunc_pointclouds._checks import check_positive, check_seed

__all__ = ["load_point_clouds"]

_HOW_TO_SAVE = (
    "save each cloud with numpy.save(path, points) where points is a real array of shape "
    "[N, 3] (one cloud) or [B, N, 3] (B clouds of N points)"
)


def _read(file: Path) -> np.ndarray:
    """One file's clouds as a float64 array ``[B, N, 3]``, or a ``ValueError`` naming the file."""
    try:
        array = np.load(file, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for malformed files
        raise ValueError(
            f"load_point_clouds: {file} could not be read as a .npy array "
            f"({type(exc).__name__}: {exc}); {_HOW_TO_SAVE}"
        ) from exc
    if not isinstance(array, np.ndarray):  # e.g. an .npz archive renamed to .npy
        raise ValueError(
            f"load_point_clouds: {file} holds a {type(array).__name__}, not a single array; "
            f"{_HOW_TO_SAVE}"
        )
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"load_point_clouds: {file} holds an array of dtype {array.dtype}, not real "
            f"numbers; {_HOW_TO_SAVE}"
        )
    if array.ndim not in (2, 3) or array.shape[-1] != 3:
        hint = ""
        if array.ndim in (2, 3) and array.shape[-2] == 3:
            hint = " (the coordinates seem to be on axis -2: save points.swapaxes(-1, -2))"
        raise ValueError(
            f"load_point_clouds: {file} holds an array of shape {list(array.shape)}, expected "
            f"[N, 3] or [B, N, 3]{hint}; {_HOW_TO_SAVE}"
        )
    clouds = array.astype(np.float64)[None] if array.ndim == 2 else array.astype(np.float64)
    if clouds.shape[0] == 0 or clouds.shape[1] == 0:
        raise ValueError(
            f"load_point_clouds: {file} holds an empty point cloud (shape {list(array.shape)}); "
            "every cloud needs at least one point"
        )
    finite = np.isfinite(clouds)
    if not finite.all():
        b, p, _ = (int(i) for i in np.argwhere(~finite)[0])
        n_nan = int(np.isnan(clouds).sum())
        which = f"point {p}" if array.ndim == 2 else f"cloud {b}, point {p}"
        raise ValueError(
            f"load_point_clouds: {file} has {n_nan} NaN and {int((~finite).sum()) - n_nan} "
            f"infinite coordinates (the first at {which}); remove or repair those points "
            "before loading"
        )
    return clouds


def load_point_clouds(
    path: str | os.PathLike[str],
    *,
    num_points: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Read point clouds from a ``.npy`` file or a directory of them, as a tensor ``[B, N, 3]``.

    A file holds one cloud ``[N, 3]`` or several ``[B, N, 3]`` (any real dtype).
    For a directory, every ``*.npy`` file directly inside it is read, in sorted
    order of file names, and the clouds are concatenated along the first axis.

    All clouds must have the same number of points ``N``, unless ``num_points``
    is given: then ``num_points`` points are chosen from each cloud at random
    (without replacement, reproducibly from ``seed``), which needs every cloud to
    have at least that many.

    Args:
        path: a ``.npy`` file or a directory of ``.npy`` files.
        num_points: if given, subsample every cloud to this many points.
        seed: seed of the subsampling.
        dtype: floating dtype of the result.

    Returns:
        A ``[B, N, 3]`` tensor (a single ``[N, 3]`` cloud becomes ``[1, N, 3]``).

    Raises:
        FileNotFoundError: ``path`` does not exist, or a directory has no ``.npy`` file.
        ValueError: a file is not a readable ``.npy`` array, or holds the wrong
            shape or dtype, an empty cloud or NaN/infinite coordinates; clouds
            differ in size without ``num_points``, or have fewer than
            ``num_points`` points. Every message names the file.

    Examples:
        >>> import pathlib, tempfile, numpy as np
        >>> from hyperfunc_pointclouds import load_point_clouds
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> np.save(folder / "a.npy", np.zeros((100, 3)))
        >>> np.save(folder / "b.npy", np.ones((2, 100, 3)))
        >>> load_point_clouds(folder).shape
        torch.Size([3, 100, 3])
        >>> load_point_clouds(folder / "a.npy", num_points=10).shape
        torch.Size([1, 10, 3])
    """
    if num_points is not None:
        check_positive("load_point_clouds", num_points=num_points)
    seed = check_seed("load_point_clouds", seed)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"load_point_clouds: dtype must be a floating torch.dtype, got {dtype!r}")
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(
            f"load_point_clouds: {root} does not exist; pass a .npy file or a directory of "
            ".npy files"
        )
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix == ".npy" and p.is_file())
        if not files:
            others = sorted(p.name for p in root.iterdir())[:5]
            raise FileNotFoundError(
                f"load_point_clouds: the directory {root} has no .npy files"
                + (f" (it has {', '.join(others)}, ...)" if others else " (it is empty)")
                + f"; {_HOW_TO_SAVE}"
            )
    else:
        files = [root]
    arrays = [(f, _read(f)) for f in files]
    if num_points is None:
        sizes = {a.shape[1] for _, a in arrays}
        if len(sizes) > 1:
            listing = ", ".join(f"{f.name}: {a.shape[1]}" for f, a in arrays[:8])
            raise ValueError(
                f"load_point_clouds: the clouds in {root} have different numbers of points "
                f"({listing}{', ...' if len(arrays) > 8 else ''}); pass num_points=... "
                f"(at most {min(sizes)}) to subsample every cloud to the same size"
            )
        clouds = np.concatenate([a for _, a in arrays])
    else:
        small = [(f, a.shape[1]) for f, a in arrays if a.shape[1] < num_points]
        if small:
            f, n = small[0]
            raise ValueError(
                f"load_point_clouds: {f} has clouds of {n} points, fewer than "
                f"num_points={num_points}; pass num_points <= {min(n for _, n in small)}"
            )
        rng = np.random.default_rng(seed)
        picked = [
            cloud[rng.choice(cloud.shape[0], size=num_points, replace=False)]
            for _, a in arrays
            for cloud in a
        ]
        clouds = np.stack(picked)
    return torch.from_numpy(clouds).to(dtype)
