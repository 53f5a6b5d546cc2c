"""The symmetric Chamfer distance between point sets."""

from __future__ import annotations

import torch
from torch import Tensor

from hyperfunc_pointclouds._checks import point_problems, require_float_tensor

__all__ = ["REDUCTIONS", "chamfer_distance"]

#: Values accepted by the ``reduction`` argument of :func:`chamfer_distance`.
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")

# Pairwise distances are computed in blocks of at most this many entries (64 MiB of
# float32), so memory stays bounded for large sets.
_BLOCK = 1 << 24


def _nearest(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest-neighbour indices: ``[B, N]`` into ``b`` and ``[B, M]`` into ``a``."""
    n_batch, n, m = a.shape[0], a.shape[1], b.shape[1]
    rows = max(1, _BLOCK // max(1, n_batch * m))
    with torch.no_grad():
        a_to_b: list[Tensor] = []
        best = torch.full((n_batch, m), float("inf"), dtype=a.dtype, device=a.device)
        b_to_a = torch.zeros((n_batch, m), dtype=torch.long, device=a.device)
        for start in range(0, n, rows):
            # exact differences (not the |a|² + |b|² - 2ab expansion): no cancellation,
            # so a point's nearest neighbour is itself whenever it occurs in both sets
            d = torch.cdist(
                a[:, start : start + rows], b, compute_mode="donot_use_mm_for_euclid_dist"
            )
            a_to_b.append(d.argmin(-1))
            value, index = d.min(-2)
            closer = value < best  # strict: ties keep the earliest index, like argmin
            best = torch.where(closer, value, best)
            b_to_a = torch.where(closer, index + start, b_to_a)
    return torch.cat(a_to_b, dim=-1), b_to_a


def _gather(points: Tensor, index: Tensor) -> Tensor:
    return points.gather(1, index.unsqueeze(-1).expand(-1, -1, points.shape[-1]))


def chamfer_distance(a: Tensor, b: Tensor, *, reduction: str = "mean") -> Tensor:
    """Symmetric Chamfer distance between point sets ``a [..., N, 3]`` and ``b [..., M, 3]``.

    For one pair of sets ``A`` (``N`` points) and ``B`` (``M`` points) it is::

        CD(A, B) = 1/N · Σ_{a∈A} min_{b∈B} ‖a − b‖²  +  1/M · Σ_{b∈B} min_{a∈A} ‖a − b‖²

    that is, the mean **squared** Euclidean distance from each point to its nearest
    neighbour in the other set, taken both ways and **summed** (not averaged, and
    no square root). It is symmetric, zero when the sets contain the same points
    (whatever their order and multiplicity), and invariant to reordering either
    set. Conventions differ between papers and libraries: halve this value for the
    "average of both directions" variant.

    Leading dimensions are batch dimensions and must be the same for ``a`` and
    ``b`` (no broadcasting); ``N`` and ``M`` may differ. Nearest neighbours are
    found without gradient tracking, then the distances to them are recomputed
    differentiably, so gradients flow to both ``a`` and ``b`` (the gradient of a
    minimum is the gradient at the minimising pair). Time is ``O(N·M)`` per pair of
    sets; memory is bounded by computing the distances in blocks.

    Args:
        a: points ``[..., N, 3]`` (floating point, ``N >= 1``, all finite).
        b: points ``[..., M, 3]`` with the same leading dimensions, dtype and device.
        reduction: over the batch dimensions: ``"mean"`` (a scalar), ``"sum"`` (a
            scalar) or ``"none"`` (one value per pair of sets, shape ``a.shape[:-2]``).

    Returns:
        The Chamfer distance, reduced as asked, in ``a``'s dtype.

    Raises:
        TypeError: an argument is not a floating-point tensor.
        ValueError: wrong shapes, empty sets, NaN or infinite coordinates,
            different batch dimensions, dtypes or devices, or an unknown
            ``reduction``. All problems found are listed in one message.

    Examples:
        >>> import torch
        >>> from hyperfunc_pointclouds import chamfer_distance
        >>> a = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
        >>> b = torch.tensor([[0.0, 0.0, 0.0]])
        >>> chamfer_distance(a, b)  # a→b: (0 + 1) / 2; b→a: 0 / 1
        tensor(0.5000)
        >>> chamfer_distance(a, a.flip(0))
        tensor(0.)
        >>> x, y = torch.randn(4, 100, 3), torch.randn(4, 80, 3)
        >>> chamfer_distance(x, y, reduction="none").shape
        torch.Size([4])
    """
    where = "chamfer_distance"
    a = require_float_tensor(where, "a", a)
    b = require_float_tensor(where, "b", b)
    problems = [*point_problems("a", a), *point_problems("b", b)]
    if reduction not in REDUCTIONS:
        problems.append(
            f"reduction: unknown value {reduction!r}; choose one of "
            f"{', '.join(repr(r) for r in REDUCTIONS)}"
        )
    if not problems:
        if a.shape[:-2] != b.shape[:-2]:
            problems.append(
                f"a and b must have the same batch dimensions, got {list(a.shape[:-2])} and "
                f"{list(b.shape[:-2])} (from shapes {list(a.shape)} and {list(b.shape)}); "
                "expand the one that is shared, e.g. b.expand(*a.shape[:-2], -1, -1)"
            )
        if a.dtype != b.dtype:
            problems.append(f"a is {a.dtype} but b is {b.dtype}; cast one, e.g. b.to(a.dtype)")
        if a.device != b.device:
            problems.append(f"a is on {a.device} but b is on {b.device}; use b.to(a.device)")
        if reduction == "mean" and a.shape[:-2].numel() == 0:
            problems.append(
                f"the batch dimensions {list(a.shape[:-2])} hold no point sets, and a mean "
                "over none is undefined; use reduction='sum' or 'none'"
            )
    if problems:
        raise ValueError(
            "chamfer_distance got bad arguments:\n  - " + "\n  - ".join(problems)
        )
    batch = a.shape[:-2]
    fa = a.reshape(-1, a.shape[-2], 3)
    fb = b.reshape(-1, b.shape[-2], 3)
    if fa.shape[0] == 0:
        per_set = a.new_zeros(batch)
    else:
        a_to_b, b_to_a = _nearest(fa, fb)
        d_ab = (fa - _gather(fb, a_to_b)).pow(2).sum(-1).mean(-1)
        d_ba = (fb - _gather(fa, b_to_a)).pow(2).sum(-1).mean(-1)
        per_set = (d_ab + d_ba).reshape(batch)
    if reduction == "mean":
        return per_set.mean()
    if reduction == "sum":
        return per_set.sum()
    return per_set
