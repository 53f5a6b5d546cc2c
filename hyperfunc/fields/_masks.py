"""Masks for inpainting: random holes to train on, and what a generator sees of a masked image.

A mask is ``[B, 1, H, W]`` (or ``[B, H, W]``) with 1 for a known pixel and 0 for a
missing one. A generator never sees missing pixels: they are replaced by the mean
of the image's known pixels (:func:`mean_filled`).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["random_masks", "as_mask", "mean_filled"]


def random_masks(
    n: int,
    height: int,
    width: int | None = None,
    *,
    hole: tuple[float, float] = (0.125, 0.5),
    drop: tuple[float, float] = (0.0, 0.75),
    generator: torch.Generator | None = None,
) -> Tensor:
    """``n`` random masks ``[n, 1, height, width]`` (1 = known pixel) for inpainting training.

    Each mask is, with equal chance, either one missing rectangle (each side a
    uniform fraction in ``hole`` of the image's side, anywhere in the image) or
    missing scattered pixels (each pixel missing with a probability drawn uniformly
    from ``drop`` for that mask).

    Examples:
        >>> import torch
        >>> from hyperfunc.fields import random_masks
        >>> m = random_masks(4, 8, generator=torch.Generator().manual_seed(0))
        >>> m.shape, bool(((m == 0) | (m == 1)).all())
        (torch.Size([4, 1, 8, 8]), True)
    """
    width = height if width is None else width
    if n < 0 or height < 1 or width < 1:
        raise ValueError(f"random_masks needs n >= 0 and a positive size, got n={n}, {height}×{width}")
    for name, (lo, hi) in (("hole", hole), ("drop", drop)):
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"{name} must be a range (lo, hi) with 0 <= lo <= hi <= 1, got {(lo, hi)}")
    u = torch.rand(n, 6, generator=generator)  # kind, two sides, two corners, drop rate
    rows, cols = torch.arange(height).view(1, -1, 1), torch.arange(width).view(1, 1, -1)
    h = (hole[0] + (hole[1] - hole[0]) * u[:, 1]).mul(height).round().clamp(1, height).long()
    w = (hole[0] + (hole[1] - hole[0]) * u[:, 2]).mul(width).round().clamp(1, width).long()
    top = (u[:, 3] * (height - h + 1)).long().clamp_max(height - h)
    left = (u[:, 4] * (width - w + 1)).long().clamp_max(width - w)
    inside = ((rows >= top.view(-1, 1, 1)) & (rows < (top + h).view(-1, 1, 1))
              & (cols >= left.view(-1, 1, 1)) & (cols < (left + w).view(-1, 1, 1)))
    rate = drop[0] + (drop[1] - drop[0]) * u[:, 5]
    scattered = torch.rand(n, height, width, generator=generator) < rate.view(-1, 1, 1)
    missing = torch.where((u[:, 0] < 0.5).view(-1, 1, 1), inside, scattered)
    return (~missing).unsqueeze(1).to(torch.get_default_dtype())


def as_mask(mask: Tensor, images: Tensor) -> Tensor:
    """``mask`` as ``[B, 1, H, W]`` in the images' dtype, or a ``ValueError`` naming the expected shape."""
    m = mask.unsqueeze(1) if mask.dim() == 3 else mask
    b, _, h, w = images.shape
    if m.dim() != 4 or m.shape[0] != b or m.shape[1] != 1 or tuple(m.shape[2:]) != (h, w):
        raise ValueError(
            f"mask must be [B, 1, H, W] or [B, H, W] = [{b}, {h}, {w}] (1 = known pixel), "
            f"got {list(mask.shape)}"
        )
    return m.to(images.dtype)


def mean_filled(images: Tensor, mask: Tensor) -> Tensor:
    """The images ``[B, C, H, W]`` with missing pixels (``mask == 0``) set to the mean of the known ones."""
    known = mask.sum((2, 3), keepdim=True).clamp_min(1.0)
    fill = (images * mask).sum((2, 3), keepdim=True) / known
    return images * mask + fill * (1.0 - mask)
