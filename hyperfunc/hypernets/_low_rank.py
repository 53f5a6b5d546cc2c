"""Low-rank factorised weights: each matrix is generated as ``U @ V``."""

from __future__ import annotations

import math
from collections.abc import Sequence

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

__all__ = ["LowRank"]


class LowRank(HyperNetwork):
    """Generates each weight tensor of shape ``[out, *rest]`` as ``U V`` of rank ``rank``.

    ``U`` is ``[out, rank]`` and ``V`` is ``[rank, prod(rest)]``; 1-D tensors (biases)
    are generated directly. The output layer then has ``rank · (out + in)``
    rows per matrix instead of ``out · in``.

    Args:
        target: the target (or its spec) whose weights are generated.
        in_features: size of a conditioning vector.
        rank: rank of every generated matrix.
        hidden: widths of the shared trunk.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.mlp(784, 10, hidden=(100,)))
        >>> hnet = hf.hypernets.LowRank(target, in_features=8, rank=2, hidden=(32,))
        >>> hnet(torch.randn(3, 8))["0.weight"].shape
        torch.Size([3, 100, 784])
    """

    def __init__(
        self,
        target: Target | ParamSpec,
        in_features: int,
        rank: int = 4,
        hidden: Sequence[int] = (100,),
    ) -> None:
        super().__init__(target, in_features)
        if rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}")
        self.rank = rank
        self._layout: list[tuple[str, int, int]] = []  # name, rows, cols (cols 0: direct)
        size = 0
        for name, shape in zip(self.spec.names, self.spec.shapes):
            if len(shape) >= 2:
                rows, cols = shape[0], math.prod(shape[1:])
                self._layout.append((name, rows, cols))
                size += rank * (rows + cols)
            else:
                self._layout.append((name, math.prod(shape), 0))
                size += math.prod(shape)
        self.trunk = trunk(in_features, hidden)
        self.head = nn.Linear(hidden[-1] if hidden else in_features, size)
        unit_variance_linear(
            self.head, _probe_second_moment(self.trunk, _probe(in_features)), gain=self.output_gain**0.5
        )

    def flat(self, z: Tensor) -> Tensor:
        """The generated weights as vectors ``[..., spec.size]``."""
        return self.spec.flatten(self.forward(z))

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        self.check_input(z)
        flat = self.head(self.trunk(z))
        batch = z.shape[:-1]
        out: dict[str, Tensor] = {}
        pos, r = 0, self.rank
        for (name, rows, cols), shape, sl in zip(
            self._layout, self.spec.shapes, (self.spec.slice_of(n) for n in self.spec.names)
        ):
            if cols:
                u = flat[..., pos : pos + rows * r].reshape(*batch, rows, r)
                pos += rows * r
                v = flat[..., pos : pos + r * cols].reshape(*batch, r, cols)
                pos += r * cols
                raw = (u @ v) / math.sqrt(r)  # variance output_gain², like the other families
            else:
                raw = flat[..., pos : pos + rows] * self.output_gain**0.5
                pos += rows
            t = self.offset[sl] + self.scale[sl] * raw.reshape(*batch, -1)
            out[name] = t.reshape((*batch, *shape))
        return out
