"""Additive update of shared base weights (HyperMAML-style)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from hyperfunc._spec import ParamSpec
from hyperfunc._target import Target
from hyperfunc.hypernets._base import HyperNetwork, trunk
from hyperfunc.hypernets._shared_base import initial_base, select_names

__all__ = ["Additive"]


class Additive(HyperNetwork):
    """``θ(z) = θ_base + Δ(z)``: learned shared weights plus a generated update.

    The update's output layer starts at zero, so at initialisation every weight set
    equals the base weights (initialised like the target). Restrict the update to
    some tensors with ``include`` (HyperMAML updates only the classifier head).

    Args:
        target: the target (or its spec).
        in_features: size of a conditioning vector.
        hidden: widths of the update network's hidden layers.
        include: names of the tensors that get an update (default: all).
        base: initial base weights (default: a fresh sample of the target's init).

    Attributes:
        base: the learned base weights ``θ_base``: one flat :class:`~torch.nn.Parameter`
            ``[spec.size]`` (as a dict: :meth:`base_params`).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.mlp(4, 2, hidden=(8,)))
        >>> hnet = hf.hypernets.Additive(target, in_features=6, include=["2.weight", "2.bias"])
        >>> p = hnet(torch.randn(5, 6))
        >>> torch.equal(p["0.weight"][0], hnet.base_params()["0.weight"])
        True
    """

    def __init__(
        self,
        target: Target | ParamSpec,
        in_features: int,
        hidden: Sequence[int] = (100,),
        include: Sequence[str] | None = None,
        base: Mapping[str, Tensor] | None = None,
    ) -> None:
        super().__init__(target, in_features)
        self.include = select_names(self.spec, include, self.spec.names)
        self.base = initial_base(target, self.spec, base)
        self.delta_spec = self.spec.select(self.include)
        self.trunk = trunk(in_features, hidden)
        self.head = nn.Linear(hidden[-1] if hidden else in_features, self.delta_spec.size)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
        idx = [torch.arange(self.spec.slice_of(n).start, self.spec.slice_of(n).stop) for n in self.include]
        # relative scale (order 1): the update moves at the optimiser's natural rate
        self.register_buffer("_delta_scale", self.scale[torch.cat(idx)] if idx else torch.zeros(0))

    def base_params(self) -> dict[str, Tensor]:
        """The shared base weights as a dict (views of :attr:`base`)."""
        return self.spec.unflatten(self.base)

    def flat(self, z: Tensor) -> Tensor:
        """The generated weights as vectors ``[..., spec.size]``."""
        return self.spec.flatten(self.forward(z))

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        self.check_input(z)
        batch = z.shape[:-1]
        delta = self.delta_spec.unflatten(self._delta_scale * self.head(self.trunk(z)))
        out: dict[str, Tensor] = {}
        for name, w in self.base_params().items():
            out[name] = w + delta[name] if name in delta else w.expand((*batch, *w.shape))
        return out
