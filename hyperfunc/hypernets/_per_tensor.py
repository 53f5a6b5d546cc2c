"""A shared trunk with one linear head per target tensor."""

from __future__ import annotations

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

__all__ = ["PerTensor"]


class PerTensor(HyperNetwork):
    """A shared MLP trunk and a separate linear head for each parameter tensor.

    Args:
        target: the target (or its spec) whose weights are generated.
        in_features: size of a conditioning vector.
        hidden: widths of the shared trunk.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.mlp(2, 3, hidden=(16,)))
        >>> hnet = hf.hypernets.PerTensor(target, in_features=8, hidden=(32,))
        >>> len(hnet.heads) == len(target.spec)
        True
    """

    def __init__(
        self, target: Target | ParamSpec, in_features: int, hidden: Sequence[int] = (100,)
    ) -> None:
        super().__init__(target, in_features)
        self.trunk = trunk(in_features, hidden)
        width = hidden[-1] if hidden else in_features
        m2 = _probe_second_moment(self.trunk, _probe(in_features))
        self.heads = nn.ModuleList(nn.Linear(width, n) for n in self.spec.numels)
        for head in self.heads:
            assert isinstance(head, nn.Linear)
            unit_variance_linear(head, m2, gain=self.output_gain)

    def raw(self, z: Tensor) -> Tensor:
        h = self.trunk(z)
        return torch.cat([head(h) for head in self.heads], dim=-1)
