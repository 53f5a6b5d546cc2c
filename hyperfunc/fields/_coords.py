"""Images ↔ (coordinate, value) sets on the square [-1, 1]², and random pixel subsets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "grid", "image_to_coords", "coords_to_image", "sample_pixels", "take_pixels", "check_coords",
    "stack_images", "sample_image",
]


def _side(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def grid(
    height: int,
    width: int,
    *,
    align_corners: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The coordinates of an ``height × width`` pixel grid, ``[height * width, 2]``, row-major.

    Each row is ``(y, x)`` in [-1, 1]. With ``align_corners=False`` (the default, as in
    :func:`torch.nn.functional.interpolate`) a coordinate is a pixel's *centre* on the
    square [-1, 1]², so grids of different resolutions cover the same square and a
    function fitted at 28 × 28 renders in place at 105 × 105. With ``align_corners=True``
    the first and last pixels sit on -1 and 1 (``torch.linspace(-1, 1, n)``).

    Examples:
        >>> from hyperfunc.fields import grid
        >>> grid(2, 3)
        tensor([[-0.5000, -0.6667],
                [-0.5000,  0.0000],
                [-0.5000,  0.6667],
                [ 0.5000, -0.6667],
                [ 0.5000,  0.0000],
                [ 0.5000,  0.6667]])
    """
    _side("height", height)
    _side("width", width)

    def axis(n: int) -> Tensor:
        if align_corners:
            return torch.linspace(-1.0, 1.0, n, device=device, dtype=dtype)
        return (torch.arange(n, device=device, dtype=dtype) * 2 + 1) / n - 1

    ys, xs = torch.meshgrid(axis(height), axis(width), indexing="ij")
    return torch.stack([ys, xs], dim=-1).reshape(-1, 2)


def stack_images(images: Tensor | Sequence[Tensor]) -> Tensor:
    """One ``[B, C, H, W]`` tensor from a tensor ``[C, H, W]`` / ``[B, C, H, W]`` or a list of ``[C, H, W]``.

    Raises:
        ValueError: naming the first image whose size differs from the first one's, or a
            tensor that is not 3-D / 4-D.
    """
    if isinstance(images, Tensor):
        if images.dim() == 3:
            return images.unsqueeze(0)
        if images.dim() == 4:
            return images
        raise ValueError(
            f"images must be [C, H, W] or [B, C, H, W], got shape {list(images.shape)}; "
            "add a channel axis for grey images (x.unsqueeze(-3))"
        )
    images = list(images)
    if not images:
        raise ValueError("images is an empty list; pass at least one [C, H, W] image")
    first = images[0].shape
    for i, im in enumerate(images):
        if im.dim() != 3:
            raise ValueError(f"images[{i}] must be [C, H, W], got shape {list(im.shape)}")
        if im.shape != first:
            raise ValueError(
                f"images[{i}] has shape {list(im.shape)} but images[0] has {list(first)}: one batch "
                "needs one size; resize them first or fit them in separate calls"
            )
    return torch.stack(images)


def image_to_coords(
    images: Tensor | Sequence[Tensor], *, align_corners: bool = False
) -> tuple[Tensor, Tensor]:
    """Images → ``(coords [H*W, 2], values [B, H*W, C])``; the coordinates are shared by the batch.

    Args:
        images: ``[B, C, H, W]``, ``[C, H, W]`` or a list of same-sized ``[C, H, W]`` images.
        align_corners: see :func:`grid`.

    Examples:
        >>> import torch
        >>> from hyperfunc.fields import image_to_coords, coords_to_image
        >>> x = torch.rand(4, 3, 8, 8)
        >>> coords, values = image_to_coords(x)
        >>> coords.shape, values.shape
        (torch.Size([64, 2]), torch.Size([4, 64, 3]))
        >>> torch.equal(coords_to_image(values, 8, 8), x)
        True
    """
    x = stack_images(images)
    b, c, h, w = x.shape
    coords = grid(h, w, align_corners=align_corners, device=x.device, dtype=x.dtype if x.is_floating_point()
                  else torch.float32)
    return coords, x.reshape(b, c, h * w).transpose(1, 2)


def coords_to_image(values: Tensor, height: int, width: int) -> Tensor:
    """Values on a row-major grid ``[..., H*W, C]`` → images ``[..., C, H, W]``.

    The inverse of :func:`image_to_coords`.
    """
    _side("height", height)
    _side("width", width)
    if values.dim() < 2 or values.shape[-2] != height * width:
        raise ValueError(
            f"values must be [..., {height}*{width}={height * width}, C] for a {height}×{width} image, "
            f"got shape {list(values.shape)}"
        )
    lead, c = values.shape[:-2], values.shape[-1]
    return values.transpose(-1, -2).reshape(*lead, c, height, width)


def sample_pixels(
    coords: Tensor, values: Tensor, n: int, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """A random subset of ``n`` pixels per image, without replacement: ``([B, n, 2], [B, n, C])``.

    Each image gets its own subset (training on random coordinates, as in
    SIREN's hypernetwork experiment).

    Args:
        coords: ``[P, 2]`` shared coordinates (from :func:`image_to_coords`) or ``[B, P, 2]``.
        values: ``[B, P, C]``.
        n: pixels per image, ``1 <= n <= P``.
        generator: for reproducible subsets.
    """
    if values.dim() != 3:
        raise ValueError(f"values must be [B, P, C], got shape {list(values.shape)}")
    b, p, _ = values.shape
    if coords.shape[-2] != p:
        raise ValueError(f"coords have {coords.shape[-2]} points but values have {p}")
    if not isinstance(n, int) or not 1 <= n <= p:
        raise ValueError(f"n must be an integer in [1, {p}] (the pixels per image), got {n!r}")
    idx = torch.rand(b, p, generator=generator, device=values.device).argsort(dim=1)[:, :n]
    return take_pixels(coords, values, idx)


def take_pixels(coords: Tensor, values: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """The pixels ``index`` (``[B, n]``) of each image: ``([B, n, 2], [B, n, C])``.

    Args:
        coords: ``[P, 2]`` shared coordinates or ``[B, P, 2]``.
        values: ``[B, P, C]``.
        index: ``[B, n]`` pixel indices in ``[0, P)``.

    Examples:
        >>> import torch
        >>> from hyperfunc.fields import image_to_coords, take_pixels
        >>> coords, values = image_to_coords(torch.arange(8.0).reshape(2, 1, 2, 2))
        >>> take_pixels(coords, values, torch.tensor([[3], [0]]))[1].flatten().tolist()
        [3.0, 4.0]
    """
    b, p, _ = values.shape
    if index.dim() != 2 or index.shape[0] != b or bool(((index < 0) | (index >= p)).any()):
        raise ValueError(
            f"index must be [B={b}, n] with pixel indices in [0, {p}), got shape {list(index.shape)}"
        )
    n = index.shape[1]
    c = coords.expand(b, p, coords.shape[-1]) if coords.dim() == 2 else coords
    take = index.to(values.device).unsqueeze(-1)
    return (
        torch.gather(c, 1, take.expand(b, n, c.shape[-1])),
        torch.gather(values, 1, take.expand(b, n, values.shape[-1])),
    )


def check_coords(coords: Tensor, low: float = -1.0, high: float = 1.0, *, name: str = "coords") -> None:
    """Raise if any coordinate lies outside ``[low, high]`` or is not finite.

    The coordinate networks here are fitted on [-1, 1]²; evaluating them far outside
    extrapolates (a SIREN repeats or explodes there), which is rarely what was meant.
    """
    if not coords.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {coords.dtype}")
    if not torch.isfinite(coords).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(coords.min()), float(coords.max())
    if lo < low or hi > high:
        raise ValueError(
            f"{name} must lie in [{low}, {high}] (the square the functions are fitted on), got values in "
            f"[{lo:.4g}, {hi:.4g}]; build them with hyperfunc.fields.grid or rescale them"
        )


def sample_image(images: Tensor, coords: Tensor, *, mode: str = "bicubic") -> Tensor:
    """Images ``[B, C, H, W]`` interpolated at ``coords``: ``[B, P, C]``.

    ``coords`` are ``(y, x)`` on [-1, 1]² with pixel centres as in :func:`grid`
    (``[P, 2]`` shared by the batch, or ``[B, P, 2]``), so with ``mode``
    ``"bicubic"`` or ``"bilinear"`` sampling a ``105 × 105`` grid is
    :func:`torch.nn.functional.interpolate` to 105 × 105 with that mode
    (``"nearest"`` takes the nearest pixel centre). Beyond the outer pixel centres
    the border pixels are repeated.

    Examples:
        >>> import torch
        >>> from hyperfunc.fields import grid, sample_image
        >>> x = torch.rand(2, 3, 8, 8)
        >>> up = sample_image(x, grid(20, 20))
        >>> up.shape
        torch.Size([2, 400, 3])
        >>> ref = torch.nn.functional.interpolate(x, size=20, mode="bicubic")
        >>> torch.allclose(up, ref.flatten(2).transpose(1, 2), atol=1e-5)
        True
    """
    if images.dim() != 4:
        raise ValueError(f"images must be [B, C, H, W], got shape {list(images.shape)}")
    b = images.shape[0]
    if coords.shape[-1] != 2 or coords.dim() not in (2, 3) or (coords.dim() == 3 and coords.shape[0] != b):
        raise ValueError(
            f"coords must be [P, 2] or [B={b}, P, 2] (y, x) on [-1, 1], got shape {list(coords.shape)}"
        )
    c = coords.expand(b, *coords.shape) if coords.dim() == 2 else coords
    # grid_sample reads (x, y); a [B, 1, P, 2] grid gives [B, C, 1, P]
    out = F.grid_sample(images, c.flip(-1).unsqueeze(1).to(images.dtype), mode=mode,
                        padding_mode="border", align_corners=False)
    return out[:, :, 0].transpose(1, 2)


def guide_inputs(guide: Tensor, coords: Tensor) -> tuple[Tensor, Tensor]:
    """A guided function's inputs at ``coords`` and what its output is added to.

    ``guide`` is ``[B, C + 1, H, W]``: C channels of estimated images and a last
    channel saying where the pixels are known (1) or estimated (0). The inputs
    are ``[B, P, 2 + C + 1]``: each coordinate and the guide interpolated there
    (bicubic, clamped to [0, 1]); the second tensor is the interpolated estimate,
    ``[B, P, C]``.
    """
    g = sample_image(guide, coords).clamp(0.0, 1.0)
    c = coords.expand(g.shape[0], *coords.shape) if coords.dim() == 2 else coords
    return torch.cat([c.to(g.dtype), g], dim=-1), g[..., :-1]
