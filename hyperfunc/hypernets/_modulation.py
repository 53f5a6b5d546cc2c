"""Shift (and scale) modulations of shared MLP weights from a latent vector (COIN++, functa)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from hyperfunc._spec import ParamSpec
from hyperfunc._target import Target
from hyperfunc.hypernets._base import HyperNetwork
from hyperfunc.hypernets._shared_base import initial_base

__all__ = ["Modulation"]


def linear_layers(spec: ParamSpec) -> list[tuple[str, str]]:
    """``(weight name, bias name)`` of every Linear layer of an MLP's spec, in order; or a clear error."""
    layers, problems = [], []
    for name, shape in zip(spec.names, spec.shapes):
        if not name.endswith("weight"):
            continue
        bias = name[: -len("weight")] + "bias"
        if len(shape) != 2:
            problems.append(f"{name} is {list(shape)}, not a Linear layer's [out, in]")
        elif bias not in spec.names or spec.shapes[spec.names.index(bias)] != shape[:1]:
            problems.append(f"{name} has no bias {bias} of shape [{shape[0]}]")
        else:
            layers.append((name, bias))
    if problems or len(layers) < 2:
        why = "; ".join(problems) or f"it has {len(layers)} Linear layer(s)"
        raise ValueError(
            f"Modulation needs an MLP target (Linear layers with biases, at least one hidden layer): {why}. "
            "Use hyperfunc.targets.siren or hyperfunc.targets.mlp"
        )
    return layers


class Modulation(HyperNetwork):
    """Per-object modulations of shared MLP weights: a latent ``z`` shifts (and scales) each hidden layer.

    COIN++ and functa (Dupont et al. 2022): one shared SIREN for a whole dataset, and
    for each object (an image) a small latent vector ``z``. A linear map turns ``z``
    into a shift ``s_l(z)`` of every hidden layer's pre-activation (and, with
    ``scale=True``, a scale ``1 + a_l(z)``)::

        h_l = act((1 + a_l(z)) ⊙ (W_l h_{l-1} + b_l) + s_l(z))

    which is the plain MLP with bias ``(1 + a_l) ⊙ b_l + s_l`` and rows of ``W_l``
    scaled by ``1 + a_l``. So the output is an ordinary weight dict for the target,
    batched over latents, and everything that takes a target's weights (batched
    evaluation, the fused renderer, refinement) takes it. With shifts only, the
    weight matrices are the shared ones expanded (no copy).

    At ``z = 0`` every object gets the shared weights (the map's bias starts at
    zero); the map's weights start as ``nn.Linear``'s, so a gradient step on ``z``
    moves the modulations from the start.

    Args:
        target: an MLP target (Linear layers with biases; e.g. :func:`~hyperfunc.targets.siren`).
        in_features: the latent size.
        scale: also produce scale modulations (twice the map's outputs; the weight
            matrices are then materialised per object).
        base: initial shared weights (default: a fresh sample of the target's init).

    Attributes:
        base: the shared weights, one flat :class:`~torch.nn.Parameter` ``[spec.size]``
            (as a dict: :meth:`base_params`).
        map: the linear map ``z ↦`` all modulations (shifts of every hidden layer,
            then their scales).
        with_scale: whether scales are produced.
        layers: ``(weight, bias)`` names of the modulated (hidden) layers.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.siren(2, 3, hidden=(16, 16)))
        >>> mod = hf.hypernets.Modulation(target, in_features=8)
        >>> p = mod(torch.zeros(4, 8))                 # four objects, latent 0: the shared weights
        >>> p["2.bias"].shape, torch.equal(p["2.bias"][1], mod.base_params()["2.bias"])
        (torch.Size([4, 16]), True)
        >>> mod.map.out_features                       # a shift per hidden unit
        32
    """

    def __init__(
        self,
        target: Target | ParamSpec,
        in_features: int,
        *,
        scale: bool = False,
        base: Mapping[str, Tensor] | None = None,
    ) -> None:
        super().__init__(target, in_features)
        self.layers: list[tuple[str, str]] = linear_layers(self.spec)[:-1]  # not the output layer
        self.base = initial_base(target, self.spec, base)
        self.widths = [self.spec.shapes[self.spec.names.index(b)][0] for _, b in self.layers]
        self.with_scale = bool(scale)
        self.map = nn.Linear(in_features, sum(self.widths) * (2 if scale else 1))
        with torch.no_grad():
            self.map.bias.zero_()

    def base_params(self) -> dict[str, Tensor]:
        """The shared weights as a dict (views of :attr:`base`)."""
        return self.spec.unflatten(self.base)

    def modulations(self, z: Tensor) -> tuple[list[Tensor], list[Tensor] | None]:
        """Per hidden layer, the shifts ``[..., width]`` and (with ``scale``) the scales ``1 + a``."""
        self.check_input(z)
        out = self.map(z)
        n = sum(self.widths)
        shifts = list(out[..., :n].split(self.widths, dim=-1))
        scales = [1.0 + a for a in out[..., n:].split(self.widths, dim=-1)] if self.with_scale else None
        return shifts, scales

    def flat(self, z: Tensor) -> Tensor:
        """The generated weights as vectors ``[..., spec.size]``."""
        return self.spec.flatten(self.forward(z))

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        batch = z.shape[:-1]
        shifts, scales = self.modulations(z)
        base = self.base_params()
        out = {name: w.expand((*batch, *w.shape)) for name, w in base.items()}
        for i, (wn, bn) in enumerate(self.layers):
            if scales is None:
                out[bn] = base[bn] + shifts[i]
            else:
                out[wn] = scales[i].unsqueeze(-1) * base[wn]
                out[bn] = scales[i] * base[bn] + shifts[i]
        return out

    def extra_repr(self) -> str:
        kind = "shift and scale" if self.with_scale else "shift"
        return f"latent {self.in_features} → {kind} of {len(self.layers)} layers ({sum(self.widths)} units)"
