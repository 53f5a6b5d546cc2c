"""Masks for inpainting: random holes to train on, and what a generator sees of a masked image.

A mask is ``[B, 1, H, W]`` (or ``[B, H, W]``) with 1 for a known pixel and 0 for a
missing one. A generator never sees missing pixels: they are replaced by the mean
of the image's known pixels (:func:`mean_filled`), or, for a method that corrects
a classical fill, filled by :func:`normalized_convolution`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["random_masks", "as_mask", "mean_filled", "normalized_convolution"]


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


def normalized_convolution(images: Tensor, mask: Tensor, sigma: float = 1.0) -> Tensor:
    """A classical fill: missing pixels become the Gaussian-weighted mean of the known ones near them.

    Normalized convolution (Knutsson and Westin 1993): the blur of the known pixels
    over the blur of the mask. A hole wider than the kernel is filled ring by ring
    from its edge inwards, each ring from the pixels known or filled before it.
    Known pixels are kept; an image with no known pixel stays 0.

    Args:
        images: ``[B, C, H, W]`` float.
        mask: ``[B, 1, H, W]`` or ``[B, H, W]``, 1 = known pixel.
        sigma: the Gaussian's standard deviation in pixels.

    Examples:
        >>> import torch
        >>> from hyperfunc.fields import normalized_convolution
        >>> x = torch.full((1, 3, 8, 8), 0.25)
        >>> m = torch.ones(1, 1, 8, 8)
        >>> m[..., 2:6, 2:6] = 0                          # a 4 × 4 hole in a flat image
        >>> torch.allclose(normalized_convolution(x * m, m), x)
        True
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    m = as_mask(mask, images)
    r = int(3 * sigma) + 1
    k1 = torch.exp(-torch.arange(-r, r + 1.0, dtype=images.dtype, device=images.device) ** 2 / (2 * sigma**2))
    k = (k1[:, None] * k1[None, :])[None, None]

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t.flatten(0, 1)[:, None], k, padding=r).view_as(t)

    have = m.expand_as(images).clone()  # 1 where a value is known or already filled
    out = images * have
    while True:
        num, den = blur(out * have), blur(have)
        grow = (den > 1e-6) & (have < 1)
        if not bool(grow.any()):
            return out
        out = torch.where(grow, num / den.clamp_min(1e-6), out)
        have = torch.where(grow, torch.ones_like(have), have)
