"""Chunked hypernetwork with learned chunk embeddings (von Oswald et al. 2020)."""

from __future__ import annotations

import math
from collections.abc import Sequence

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

    def raw(self, z: Tensor) -> Tensor:
        batch = z.shape[:-1]
        c = self.chunk_embeddings.expand(*batch, -1, -1)
        h = torch.cat([z.unsqueeze(-2).expand(*batch, self.num_chunks, -1), c], dim=-1)
        out: Tensor = self.head(self.trunk(h)) * self.chunk_scale
        return out.reshape(*batch, -1)[..., : self.spec.size]
