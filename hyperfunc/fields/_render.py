"""Rendering a batch of generated functions on a pixel grid of any resolution, in chunks."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from hyperfunc._target import Target
from hyperfunc.fields._coords import coords_to_image, grid, guide_inputs
from hyperfunc.fields._fused_render import TILE_BYTES, fold_layers, render_fused

__all__ = ["render", "DEFAULT_MEMORY_LIMIT", "CACHE_BYTES", "bytes_per_point"]

#: The default bound on the activations a render call holds at once (bytes).
DEFAULT_MEMORY_LIMIT = 256 * 2**20
#: The size of one activation tensor that ``chunk=None`` aims for (bytes).
CACHE_BYTES = 4 * 2**20


def _batch_size(params: Mapping[str, Tensor]) -> int:
    first = next(iter(params.values()), None)
    if first is None or first.dim() == 0:
        raise ValueError("params must be a non-empty dict of tensors with a leading batch axis B")
    return int(first.shape[0])


def _widest(target: Target) -> int:
    """The widest layer: the largest leading dimension of a weight matrix."""
    return max([s[0] for s in target.spec.shapes if len(s) >= 2] or [1])


def bytes_per_point(target: Target, batch: int) -> int:
    """An upper estimate of the activation memory one coordinate costs for ``batch`` functions.

    The widest layer's activations (the largest leading dimension of a weight matrix),
    float32, counted four times (pre-activation, activation, the next product, and slack).
    """
    return 4 * 4 * batch * _widest(target)


def render(
    target: Target,
    params: Mapping[str, Tensor],
    height: int,
    width: int | None = None,
    *,
    chunk: int | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    align_corners: bool = False,
    grad: bool = False,
    guide: Tensor | None = None,
) -> Tensor:
    """Evaluate B functions on a ``height × width`` grid: ``[B, C, height, width]``.

    The grid (see :func:`~hyperfunc.fields.grid`) is evaluated ``chunk`` coordinates
    at a time for all B functions in one batched call per chunk, so memory stays
    bounded at any resolution.

    With ``chunk=None`` and no ``grad``, a target with the plain-MLP fast path
    (:attr:`~hyperfunc.Target.has_fast_path`, e.g. a SIREN) is rendered by a
    fused path: ``w0`` folded into the weights, in-place sines into reused
    buffers, tiles sized for the cache, and the first sine layer separated into
    per-row and per-column sines. It gives the same image (to float rounding)
    several times faster on a CPU.

    Args:
        target: the coordinate network (``2 → C``).
        params: B weight sets (a leading axis B on every tensor).
        height, width: the resolution (``width`` defaults to ``height``).
        chunk: coordinates per batched call of all B functions; ``None``
            chooses: plain-MLP targets (SIRENs) without ``grad`` are then
            rendered in fused, cache-sized tiles of a few functions × a few rows
            (see below), other targets in chunks whose activation tensors are
            about 4 MiB, within ``memory_limit``.
        memory_limit: bytes of activations a chunk may take (estimated by
            :func:`bytes_per_point`).
        align_corners: the grid convention (pixel centres by default).
        grad: keep the autograd graph (for losses on renders); off by default.
        guide: ``[B, C + 1, h, w]`` (any size) for guided functions
            (:class:`~hyperfunc.fields.GuidedHyperNet`): estimated images and a
            last channel of where pixels are known (1). Each function reads
            ``(y, x, guide(y, x))``, the guide interpolated bicubically, and its
            output is added to the estimate there.

    Raises:
        ValueError: if ``chunk`` coordinates would need more than ``memory_limit``
            (the message gives the largest chunk that fits), or if not even one
            coordinate fits.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.siren(2, 3, hidden=(16, 16)))
        >>> params = target.init_params((4,))
        >>> hf.fields.render(target, params, 105).shape
        torch.Size([4, 3, 105, 105])
    """
    width = height if width is None else width
    b = _batch_size(params)
    per_point = bytes_per_point(target, b)
    fits = memory_limit // per_point
    if fits < 1:
        raise ValueError(
            f"rendering {b} functions needs about {per_point} bytes per coordinate, more than "
            f"memory_limit={memory_limit}; raise memory_limit or render fewer functions at a time"
        )
    first = next(iter(params.values()))
    coords = grid(height, width, align_corners=align_corners, device=first.device, dtype=first.dtype)
    keep_graph = grad and torch.is_grad_enabled()
    plan = target.mlp_plan  # the plain-MLP steps, if the target has that shape
    if guide is not None and guide.shape[0] != b:
        raise ValueError(f"guide must be [B={b}, C + 1, h, w] (one per function), got {list(guide.shape)}")
    if chunk is None and not keep_graph and plan is not None and guide is None:
        layers = fold_layers(plan, params)
        if layers is not None and layers[0].weight.shape[1] == 2:
            side = coords.view(height, width, 2)
            tile = min(TILE_BYTES, max(1, memory_limit // 4))
            return render_fused(layers, side[:, 0, 0], side[0, :, 1], tile_bytes=tile)
    n = height * width
    if chunk is None:
        # Within the memory bound, keep each activation tensor near CACHE_BYTES: on a CPU,
        # elementwise ops (the sine) on tensors far larger than the cache are slower per element.
        chunk = max(1, min(n, int(fits), CACHE_BYTES // (4 * b * _widest(target))))
    elif not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer or None, got {chunk!r}")
    elif chunk > fits and chunk > 1:
        raise ValueError(
            f"a chunk of {chunk} coordinates × {b} functions needs about "
            f"{chunk * per_point / 2**20:.0f} MiB, "
            f"over memory_limit={memory_limit / 2**20:.0f} MiB; use chunk <= {fits} (or chunk=None to "
            "choose automatically), or raise memory_limit"
        )
    parts = []
    with torch.set_grad_enabled(keep_graph):
        for start in range(0, n, chunk):
            if guide is None:
                parts.append(target.batched(params, coords[start:start + chunk], shared=True))
            else:
                inputs, base = guide_inputs(guide, coords[start:start + chunk])
                parts.append(target.batched(params, inputs, shared=False) + base)
    return coords_to_image(torch.cat(parts, dim=1), height, width)
