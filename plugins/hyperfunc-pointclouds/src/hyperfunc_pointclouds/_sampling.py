"""Uniform samples in the unit ball and on the unit sphere (the HyperCloud prior)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hyperfunc_pointclouds._checks import check_positive, is_int

__all__ = ["sample_unit_ball", "sample_unit_sphere"]


def _batch(where: str, batch: Sequence[int]) -> tuple[int, ...]:
    try:
        dims = tuple(batch)
    except TypeError:
        raise ValueError(
            f"{where}: batch must be a sequence of sizes such as () or (4,), got {batch!r}"
        ) from None
    if not all(is_int(d) and int(d) >= 0 for d in dims):
        raise ValueError(
            f"{where}: batch must hold non-negative ints, got {batch!r}; e.g. batch=(4,) "
            "for four sets"
        )
    return tuple(int(d) for d in dims)


def _directions(
    where: str,
    n: int,
    batch: Sequence[int],
    generator: torch.Generator | None,
    dtype: torch.dtype | None,
    device: torch.device | str | None,
) -> Tensor:
    """Unit vectors ``[*batch, n, 3]``, uniform on the sphere (normalised Gaussians)."""
    check_positive(where, n=n)
    dims = _batch(where, batch)
    if dtype is not None and not dtype.is_floating_point:
        raise ValueError(f"{where}: dtype must be a floating dtype, got {dtype}")
    # draw on the generator's device (a CPU generator cannot fill a CUDA tensor), then move
    origin = generator.device if generator is not None else device
    g = torch.randn(*dims, int(n), 3, generator=generator, dtype=dtype, device=origin)
    # a zero Gaussian vector has probability 0; the clamp only guards the division
    unit = g / g.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(g.dtype).tiny)
    out: Tensor = unit if device is None else unit.to(device)
    return out


def sample_unit_sphere(
    n: int,
    *,
    batch: Sequence[int] = (),
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``n`` points drawn uniformly on the unit sphere ``‖x‖ = 1``, shape ``[*batch, n, 3]``.

    Each point is a standard Gaussian vector divided by its norm, whose direction
    is uniform on the sphere. HyperCloud maps such points to an object's surface
    to obtain a mesh-like parametrisation.

    Args:
        n: points per set.
        batch: leading dimensions (one set of ``n`` points per entry).
        generator: random generator (the global one if ``None``).
        dtype: floating dtype (the default dtype if ``None``).
        device: where the result lives.

    Examples:
        >>> import torch
        >>> from hyperfunc_pointclouds import sample_unit_sphere
        >>> x = sample_unit_sphere(100, batch=(2,), generator=torch.Generator().manual_seed(0))
        >>> x.shape, torch.allclose(x.norm(dim=-1), torch.ones(2, 100))
        (torch.Size([2, 100, 3]), True)
    """
    return _directions("sample_unit_sphere", n, batch, generator, dtype, device)


def sample_unit_ball(
    n: int,
    *,
    batch: Sequence[int] = (),
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``n`` points drawn uniformly from the unit ball ``‖x‖ ≤ 1``, shape ``[*batch, n, 3]``.

    A uniform direction (:func:`sample_unit_sphere`) times a radius ``U^(1/3)``
    with ``U ~ U[0, 1)``: the volume inside radius ``r`` is ``r³`` of the whole,
    so this radius makes the density uniform. These are the prior samples a
    HyperCloud target maps onto an object's surface.

    Args:
        n: points per set.
        batch: leading dimensions (one set of ``n`` points per entry).
        generator: random generator (the global one if ``None``).
        dtype: floating dtype (the default dtype if ``None``).
        device: where the result lives.

    Examples:
        >>> import torch
        >>> from hyperfunc_pointclouds import sample_unit_ball
        >>> x = sample_unit_ball(1000, generator=torch.Generator().manual_seed(0))
        >>> x.shape, bool((x.norm(dim=-1) <= 1).all())
        (torch.Size([1000, 3]), True)
    """
    where = "sample_unit_ball"
    unit = _directions(where, n, batch, generator, dtype, device)
    origin = generator.device if generator is not None else unit.device
    u = torch.rand(*unit.shape[:-1], 1, generator=generator, dtype=unit.dtype, device=origin)
    return unit * u.to(unit.device).pow(1.0 / 3.0)
