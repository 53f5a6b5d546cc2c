"""Full MLP head: one linear layer produces every target weight."""

from __future__ import annotations

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

__all__ = ["MLPHyperNet"]


class MLPHyperNet(HyperNetwork):
    """An MLP ``in_features → hidden… → |θ|`` (Ha et al. 2017; von Oswald et al.'s HMLP).

    Args:
        target: the target (or its spec) whose weights are generated.
        in_features: size of a conditioning vector.
        hidden: widths of the hidden layers.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.mlp(2, 3, hidden=(16,)))
        >>> hnet = hf.hypernets.MLPHyperNet(target, in_features=8, hidden=(32,))
        >>> params = hnet(torch.randn(4, 8))  # four weight sets
        >>> params["0.weight"].shape
        torch.Size([4, 16, 2])
    """

    def __init__(
        self, target: Target | ParamSpec, in_features: int, hidden: Sequence[int] = (100, 100)
    ) -> None:
        super().__init__(target, in_features)
        self.trunk = trunk(in_features, hidden)
        width = hidden[-1] if hidden else in_features
        self.head = nn.Linear(width, self.spec.size)
        unit_variance_linear(
            self.head, _probe_second_moment(self.trunk, _probe(in_features)), gain=self.output_gain
        )

    def raw(self, z: Tensor) -> Tensor:
        out: Tensor = self.head(self.trunk(z))
        return out
