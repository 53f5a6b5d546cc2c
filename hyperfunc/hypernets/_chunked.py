"""Chunked hypernetwork with learned chunk embeddings (von Oswald et al. 2020)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hyperfunc._spec import ParamSpec
from hyperfunc._target import Target
from hyperfunc.hypernets._base import (
    HyperNetwork,
    _probe,
    _probe_second_moment,
    trunk,
    unit_variance_linear,
)

__all__ = ["Chunked"]


class Chunked(HyperNetwork):
    """Generates the flattened weights chunk by chunk with one shared network.

    Chunk ``k`` is ``f([z, c_k])`` where ``c_k`` is a learned chunk embedding; all
    chunks are computed in one batched call. Its size no longer grows with
    ``|θ|`` through the output layer, so it can be smaller than the target
    (``compression_ratio < 1``).

    Args:
        target: the target (or its spec) whose weights are generated.
        in_features: size of a conditioning vector.
        chunk_size: outputs per chunk; ``ceil(|θ| / chunk_size)`` chunks are used.
        chunk_dim: size of each chunk embedding.
        hidden: widths of the shared network's hidden layers.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.mlp(784, 10, hidden=(100, 100)))
        >>> hnet = hf.hypernets.Chunked(target, in_features=32, chunk_size=500, hidden=(50,))
        >>> hnet.num_chunks, hnet.compression_ratio < 1
        (180, True)
    """

    def __init__(
        self,
        target: Target | ParamSpec,
        in_features: int,
        chunk_size: int = 4096,
        chunk_dim: int = 8,
        hidden: Sequence[int] = (100, 100),
    ) -> None:
        super().__init__(target, in_features)
        if chunk_size < 1 or chunk_dim < 1:
            raise ValueError(f"chunk_size and chunk_dim must be >= 1, got {chunk_size}, {chunk_dim}")
        self.chunk_size = chunk_size
        self.num_chunks = max(1, math.ceil(self.spec.size / chunk_size))
        self.chunk_embeddings = nn.Parameter(torch.randn(self.num_chunks, chunk_dim))
        self.trunk = trunk(in_features + chunk_dim, hidden)
        width = hidden[-1] if hidden else in_features + chunk_dim
        self.head = nn.Linear(width, chunk_size)
        probe = _probe(in_features, 256)
        pairs = torch.cat(
            [
                probe[:, None].expand(-1, self.num_chunks, -1),
                self.chunk_embeddings.detach()[None].expand(len(probe), -1, -1),
            ],
            dim=-1,
        )
        unit_variance_linear(self.head, _probe_second_moment(self.trunk, pairs))
        # Chunks see different embeddings, so their output scales differ; a fixed
        # per-chunk factor makes every chunk start with unit variance.
        with torch.no_grad():
            m2 = self.head(self.trunk(pairs)).pow(2).mean(dim=(0, 2))
            self.head.weight.mul_(self.output_gain)
        self.register_buffer("chunk_scale", m2.clamp_min(1e-12).rsqrt().unsqueeze(-1))

    chunk_scale: Tensor

    def features(self, z: Tensor) -> Tensor:
        """The trunk's outputs ``[..., num_chunks, hidden[-1]]`` for every chunk."""
        batch = z.shape[:-1]
        c = self.chunk_embeddings.expand(*batch, -1, -1)
        h = torch.cat([z.unsqueeze(-2).expand(*batch, self.num_chunks, -1), c], dim=-1)
        out: Tensor = self.trunk(h)
        return out

    def head_outputs(self, z: Tensor) -> Tensor:
        """The shared network's outputs ``[..., num_chunks, chunk_size]`` (before scaling)."""
        out: Tensor = self.head(self.features(z))
        return out

    def _raw_from_head(self, out: Tensor) -> Tensor:
        return (out * self.chunk_scale).flatten(-2)[..., : self.spec.size]

    def raw(self, z: Tensor) -> Tensor:
        return self._raw_from_head(self.head_outputs(z))

    def reference(self, z: Tensor) -> Tensor:
        """Stored form: the padded head outputs ``[n, num_chunks, chunk_size]``."""
        self.check_input(z)
        with torch.no_grad():
            return self.head_outputs(z).detach()

    def flat_with_penalty(self, z: Tensor, z_old: Tensor, reference: Tensor) -> tuple[Tensor, Tensor]:
        """As :meth:`HyperNetwork.flat_with_penalty`, compared in head-output space.

        ``flat = offset + scale · chunk_scale · head`` is linear in the head
        outputs, so ``‖flat − flat*‖² = Σ w · (head − head*)²`` with
        ``w = (scale · chunk_scale)²`` (0 on the padding of the last chunk): the
        same value without materialising or slicing the old tasks' weights, and
        with one fused elementwise pass forward and one backward.
        """
        self.check_input(z)
        self.check_input(z_old)
        feats = self.features(torch.cat([z.unsqueeze(0), z_old]))  # one trunk call
        # The head runs on the two parts separately: slicing one big output would
        # cost two zero-filled full-size gradients in the backward pass.
        flat = torch.addcmul(self.offset, self.scale, self._raw_from_head(self.head(feats[0])))
        # √w = scale · chunk_scale per head output, 0 on the last chunk's padding; derived
        # from the buffers on each call (one pass over |θ|), so never stale after load_state_dict
        pad = self.num_chunks * self.chunk_size - self.spec.size
        root = torch.nn.functional.pad(self.scale, (0, pad)).view(self.num_chunks, -1) * self.chunk_scale
        penalty: Tensor = _HeadPenalty.apply(  # type: ignore[no-untyped-call]
            feats[1:], self.head.weight, self.head.bias, reference, root
        )
        return flat, penalty / len(z_old)


class _HeadPenalty(torch.autograd.Function):
    """``Σ (r ⊙ (head(f) − b))²`` for a linear ``head``; ``b`` and ``r`` constant.

    Fused so that the only full-size tensors are the head's output (reused in place
    for the weighted difference) and its gradient: at ten earlier tasks and
    ~90k weights these are megabytes, and every fresh allocation of that size
    costs page faults on CPU.
    """

    @staticmethod
    def forward(
        ctx: Any, feats: Tensor, weight: Tensor, bias: Tensor, ref: Tensor, root_weight: Tensor
    ) -> Tensor:
        flat_feats = feats.reshape(-1, feats.shape[-1])
        e = torch.addmm(bias, flat_feats, weight.t()).view_as(ref).sub_(ref).mul_(root_weight)
        ctx.save_for_backward(flat_feats, weight, e, root_weight)
        ctx.feats_shape = feats.shape
        return torch.dot(e.reshape(-1), e.reshape(-1))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        flat_feats, weight, e, root_weight = ctx.saved_tensors
        g = torch.mul(e, root_weight).mul_(2 * grad).reshape(-1, weight.shape[0])
        grad_feats = (g @ weight).view(ctx.feats_shape) if ctx.needs_input_grad[0] else None
        grad_weight = g.t() @ flat_feats if ctx.needs_input_grad[1] else None
        grad_bias = g.sum(0) if ctx.needs_input_grad[2] else None
        return grad_feats, grad_weight, grad_bias, None, None
