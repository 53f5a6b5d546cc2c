"""Rendering plain-MLP coordinate networks on a grid in fused, cache-sized tiles.

On a CPU, rendering a SIREN costs mostly its sines (about 1 ns per activation on
two cores, twice a batched matmul's cost per output), so the render is bounded by
arithmetic, not by call overhead. This path removes what is not arithmetic:

* each ``sin(w0 · (x Wᵀ + b))`` becomes ``sin(x (w0 W)ᵀ + w0 b)``: the ``w0``
  multiply is folded into the (small) weights once per call;
* every layer writes into one of two reused buffers (``baddbmm(out=)`` then an
  in-place sine), so no activation tensor is allocated per tile;
* tiles of a few functions × a few grid rows are sized to stay in the cache;
* on a grid, the first sine layer is separable: with row coordinate ``u`` and
  column coordinate ``v``, ``sin(a·u + b·v + c) = sin(a·u + c)·cos(b·v) +
  cos(a·u + c)·sin(b·v)``, so its sines are taken per row and per column
  (``H + W`` of them instead of ``H · W``) and combined by two products.

It is used by :func:`hyperfunc.fields.render` without autograd, for targets whose
batched call has the plain-MLP fast path (see :attr:`hyperfunc.Target.has_fast_path`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from hyperfunc._fast_mlp import Step
from hyperfunc.targets import Sine

__all__ = ["FusedLayer", "fold_layers", "render_fused", "TILE_BYTES", "GROUP"]

#: Bytes of one activation tile (functions × points × width, float32): about L2-sized.
TILE_BYTES = 2 * 2**20
#: Functions per tile when one function's grid fills a tile on its own.
GROUP = 8


class FusedLayer(NamedTuple):
    """One Linear layer of a batch of MLPs, with what follows it."""

    weight: Tensor  #: ``[B, in, out]`` (transposed; times ``w0`` when a sine follows)
    bias: Tensor | None  #: ``[B, 1, out]`` (times ``w0`` when a sine follows)
    sine: bool  #: a :class:`~hyperfunc.targets.Sine` follows (folded into the weights)
    activation: nn.Module | None  #: another elementwise module that follows, if any


def fold_layers(steps: Sequence[Step], params: Mapping[str, Tensor]) -> list[FusedLayer] | None:
    """The layers of a plain-MLP plan with sines folded in, or ``None`` if it has another shape.

    Handled: Linear layers, each followed by at most one elementwise module.
    """
    layers: list[FusedLayer] = []
    for step in steps:
        if isinstance(step, tuple):
            w = params[step[0]].transpose(1, 2)
            b = params[step[1]].unsqueeze(1) if step[1] is not None else None
            layers.append(FusedLayer(w, b, False, None))
        elif not layers or layers[-1].sine or layers[-1].activation is not None:
            return None  # an activation first, or two in a row
        elif isinstance(step, Sine):
            w, b, _, _ = layers[-1]
            layers[-1] = FusedLayer(w * step.w0, None if b is None else b * step.w0, True, None)
        else:
            layers[-1] = layers[-1]._replace(activation=step)
    return [FusedLayer(w.contiguous(), b, s, a) for w, b, s, a in layers]


def _apply(layer: FusedLayer, sl: slice, h: Tensor, dst: Tensor | None) -> Tensor:
    """``h @ weight + bias`` (into ``dst``), then the activation; or, with ``dst=None``, the
    transposed product ``weight @ h`` (``weight``, ``bias`` and ``h`` given transposed)."""
    w, b = layer.weight[sl], None if layer.bias is None else layer.bias[sl]
    if dst is None:
        dst = torch.bmm(w, h) if b is None else torch.baddbmm(b, w, h)
    elif b is None:
        torch.bmm(h, w, out=dst)
    else:
        torch.baddbmm(b, h, w, out=dst)
    if layer.sine:
        return dst.sin_()
    return dst if layer.activation is None else layer.activation(dst)


def render_fused(
    layers: list[FusedLayer], rows: Tensor, cols: Tensor, *, tile_bytes: int = TILE_BYTES
) -> Tensor:
    """Evaluate B MLPs on the grid ``rows × cols`` of 2-D coordinates: ``[B, C, H, W]``.

    ``rows`` (``[H]``) is the first coordinate, ``cols`` (``[W]``) the second, as
    in :func:`hyperfunc.fields.grid`. Tiles hold about ``tile_bytes`` of
    activations; no autograd graph is kept.
    """
    b = layers[0].weight.shape[0]
    height, width = rows.numel(), cols.numel()
    widths = [layer.weight.shape[2] for layer in layers]
    budget = max(1, tile_bytes // (4 * max(widths)))  # functions × points per tile
    group = min(b, max(GROUP, budget // (height * width)), max(1, budget // width))
    tile_rows = max(1, min(height, budget // (group * width)))
    first = layers[0]
    separable = first.sine and first.weight.shape[1] == 2 and len(layers) > 1
    like = first.weight
    out = torch.empty(b, widths[-1], height, width, dtype=like.dtype, device=like.device)
    size = group * tile_rows * width * max(widths)
    buffers = (like.new_empty(size), like.new_empty(size))
    w_last, b_last = layers[-1].weight.transpose(1, 2), layers[-1].bias
    last = layers[-1]._replace(weight=w_last, bias=None if b_last is None else b_last.transpose(1, 2))
    # the grid's coordinates, needed only when the first layer is not separated
    coords = None if separable else torch.stack(torch.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        for f0 in range(0, b, group):
            fs = slice(f0, f0 + group)
            g = min(group, b - f0)
            if separable:  # the first layer's sines, per row and per column
                a = rows.view(1, -1, 1) * first.weight[fs, 0:1]  # [g, H, k]
                if first.bias is not None:
                    a = a + first.bias[fs]
                c = cols.view(1, -1, 1) * first.weight[fs, 1:2]  # [g, W, k]
                sa, ca, sc, cc = a.sin(), a.cos(), c.sin()[:, None], c.cos()[:, None]
            for r0 in range(0, height, tile_rows):
                r = min(tile_rows, height - r0)
                p = r * width
                todo = layers
                if separable:
                    k = widths[0]
                    h = buffers[0][: g * p * k].view(g, r, width, k)
                    torch.mul(sa[:, r0:r0 + r, None], cc, out=h)
                    h = h.addcmul_(ca[:, r0:r0 + r, None], sc).view(g, p, k)
                    todo = layers[1:]
                else:
                    assert coords is not None
                    h = coords[r0 * width:r0 * width + p].expand(g, p, 2)
                for layer in todo[:-1]:
                    k = layer.weight.shape[2]
                    spare = buffers[1] if h.data_ptr() == buffers[0].data_ptr() else buffers[0]
                    h = _apply(layer, fs, h, spare[: g * p * k].view(g, p, k))
                # the last layer transposed, [g, C, p]: a narrow output (C = 1 or 3) is a
                # skinny matmul, several times faster as C × p than as p × C
                out[fs, :, r0:r0 + r] = _apply(last, fs, h.transpose(1, 2), None).view(g, -1, r, width)
    return out
