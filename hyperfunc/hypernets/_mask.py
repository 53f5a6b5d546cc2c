"""Multiplicative semi-binary masks over shared base weights (HyperMask-style)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
from hyperfunc.hypernets._shared_base import initial_base, select_names

__all__ = ["Mask"]


def _keep_top(m: Tensor, sparsity: float) -> Tensor:
    """Zero all but the largest ``1 - sparsity`` fraction of each row of ``m`` ``[*, n]``."""
    n = m.shape[-1]
    k = min(n - 1, math.floor(sparsity * n))
    if k <= 0:
        return m
    thr = m.detach().kthvalue(k, dim=-1, keepdim=True).values
    return m * (m > thr)


class Mask(HyperNetwork):
    """``θ(z) = θ_base ⊙ m(z)`` with a semi-binary mask ``m = |tanh(f(z))|``.

    Only the largest ``1 - sparsity`` fraction of each tensor's mask is kept
    (per weight set), the rest is zero (Książek & Spurek 2023). The base weights
    are scaled at initialisation so that the masked weights start with the
    target's initial variance.

    Args:
        target: the target (or its spec).
        in_features: size of a conditioning vector.
        hidden: widths of the mask network's hidden layers.
        sparsity: fraction of each mask set to zero (0 keeps everything).
        include: tensors to mask (default: every tensor with 2 or more dims, i.e.
            the weights, not the biases).
        base: initial base weights (default: a fresh sample, rescaled).

    Attributes:
        base: the learned base weights ``θ_base``: one flat :class:`~torch.nn.Parameter`
            ``[spec.size]`` (as a dict: :meth:`base_params`).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.mlp(4, 2, hidden=(8,)))
        >>> hnet = hf.hypernets.Mask(target, in_features=6, sparsity=0.5)
        >>> m = hnet.masks(torch.randn(5, 6))["0.weight"]
        >>> m.shape, bool(((m == 0).float().mean(dim=(1, 2)) >= 0.5).all())
        (torch.Size([5, 8, 4]), True)
    """

    def __init__(
        self,
        target: Target | ParamSpec,
        in_features: int,
        hidden: Sequence[int] = (100,),
        sparsity: float = 0.0,
        include: Sequence[str] | None = None,
        base: Mapping[str, Tensor] | None = None,
    ) -> None:
        super().__init__(target, in_features)
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
        self.sparsity = sparsity
        weights = [n for n, s in zip(self.spec.names, self.spec.shapes) if len(s) >= 2]
        self.include = select_names(self.spec, include, weights)
        self.mask_spec = self.spec.select(self.include)
        self.trunk = trunk(in_features, hidden)
        self.head = nn.Linear(hidden[-1] if hidden else in_features, self.mask_spec.size)
        unit_variance_linear(self.head, _probe_second_moment(self.trunk, _probe(in_features)))
        self.base = initial_base(target, self.spec, base)
        if base is None:  # rescale masked tensors so base ⊙ m has the target's variance
            with torch.no_grad():
                probe = self.masks(_probe(in_features, 64))
                for name in self.include:
                    m2 = float(probe[name].pow(2).mean())
                    self.base[self.spec.slice_of(name)] /= math.sqrt(max(m2, 1e-12))

    def base_params(self) -> dict[str, Tensor]:
        """The shared base weights as a dict (views of :attr:`base`)."""
        return self.spec.unflatten(self.base)

    def masks(self, z: Tensor) -> dict[str, Tensor]:
        """The masks for conditioning vectors ``z`` (one per included tensor)."""
        self.check_input(z)
        batch = z.shape[:-1]
        raw = self.head(self.trunk(z))
        out: dict[str, Tensor] = {}
        for name, shape in zip(self.mask_spec.names, self.mask_spec.shapes):
            sl = self.mask_spec.slice_of(name)
            m = _keep_top(torch.tanh(raw[..., sl]).abs(), self.sparsity)
            out[name] = m.reshape((*batch, *shape))
        return out

    def flat(self, z: Tensor) -> Tensor:
        """The generated weights as vectors ``[..., spec.size]``."""
        return self.spec.flatten(self.forward(z))

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        masks = self.masks(z)
        batch = z.shape[:-1]
        out: dict[str, Tensor] = {}
        for name, w in self.base_params().items():
            out[name] = w * masks[name] if name in masks else w.expand((*batch, *w.shape))
        return out
