"""Rotated copies of every class as new classes (the standard Omniglot augmentation)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["with_rotations"]


def with_rotations(images: Tensor, quarter_turns: tuple[int, ...] = (0, 1, 2, 3)) -> Tensor:
    """Every class rotated by each of ``quarter_turns`` × 90°, each rotation a class of its own.

    A character rotated by 90° is treated as a new character (Santoro et al. 2016;
    Finn et al. 2017): Omniglot's 964 background classes become 3,856.

    Args:
        images: ``[C, M, ..., H, W]`` grouped by class; the last two axes are rotated.
        quarter_turns: counter-clockwise quarter turns, like :func:`numpy.rot90`'s ``k``;
            the default keeps the originals and adds 90°, 180° and 270°.

    Returns:
        ``[len(quarter_turns) * C, M, ..., H, W]``, rotation-major: class
        ``r * C + c`` is class ``c`` turned ``quarter_turns[r]`` times, i.e.
        ``np.rot90(images[c], quarter_turns[r], axes=(-2, -1))``.

    Examples:
        >>> import torch
        >>> from hyperfunc.datasets import with_rotations
        >>> x = torch.tensor([[[[1, 2], [3, 4]]]])   # 1 class, 1 example, 2×2
        >>> with_rotations(x).shape
        torch.Size([4, 1, 2, 2])
        >>> with_rotations(x)[1, 0].tolist()        # 90° counter-clockwise
        [[2, 4], [1, 3]]
    """
    if images.dim() < 4:
        raise ValueError(
            f"images must be [classes, examples, ..., H, W] (at least 4 axes), got shape "
            f"{tuple(images.shape)}; add the missing axes, e.g. images[:, :, None] for a channel"
        )
    bad = [k for k in quarter_turns if isinstance(k, bool) or not isinstance(k, int)]
    if bad or not quarter_turns:
        raise ValueError(f"quarter_turns must be a non-empty tuple of ints (0..3), got {quarter_turns!r}")
    if images.shape[-1] != images.shape[-2] and any(k % 2 for k in quarter_turns):
        raise ValueError(
            f"odd quarter turns of non-square images ({images.shape[-2]}×{images.shape[-1]}) change "
            "their shape; crop or pad them to squares, or use quarter_turns=(0, 2)"
        )
    return torch.cat([torch.rot90(images, k, dims=(-2, -1)) for k in quarter_turns])
