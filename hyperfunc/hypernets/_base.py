"""The hypernetwork base class and the pieces every family shares."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hyperfunc._init_stats import InitStats, default_init_stats
from hyperfunc._spec import ParamSpec
from hyperfunc._target import Target

__all__ = ["HyperNetwork", "trunk", "unit_variance_linear", "ZERO_VAR_SCALE"]

#: Output scale used for parameters whose initial variance is 0 (e.g. a norm layer's
#: weight of ones): they start within ±1 % of their initial value yet stay learnable.
ZERO_VAR_SCALE = 1e-2


def _resolve(target: Target | ParamSpec) -> tuple[ParamSpec, InitStats]:
    if isinstance(target, Target):
        return target.spec, target.init_stats
    if isinstance(target, ParamSpec):
        return target, default_init_stats(target)
    raise TypeError(
        f"a hypernetwork is built for a Target (preferred: its initial statistics are used) "
        f"or a ParamSpec, got {type(target).__name__}; pass hyperfunc.stateless(module)"
    )


def trunk(in_features: int, hidden: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Module:
    """An MLP ``in_features → hidden…`` with an activation after every layer."""
    layers: list[nn.Module] = []
    for a, b in zip([in_features, *hidden[:-1]], hidden):
        layers += [nn.Linear(a, b), activation()]
    return nn.Sequential(*layers)


def _probe_second_moment(net: nn.Module, inputs: Tensor) -> float:
    with torch.no_grad():
        h = net(inputs)
    return max(float(h.pow(2).mean()), 1e-12)


def unit_variance_linear(layer: nn.Linear, second_moment: float, gain: float = 1.0) -> None:
    """Initialise ``layer`` so its outputs have variance ``gain²`` given inputs whose
    mean square is ``second_moment`` (zero bias)."""
    with torch.no_grad():
        layer.weight.normal_(0.0, gain / math.sqrt(layer.in_features * second_moment))
        if layer.bias is not None:
            layer.bias.zero_()


def _probe(in_features: int, n: int = 1024) -> Tensor:
    g = torch.Generator().manual_seed(0)  # local: the global RNG stream is not touched
    return torch.randn(n, in_features, generator=g)


class HyperNetwork(nn.Module):
    """Base class: maps conditioning vectors ``[..., in_features]`` to parameter dicts.

    ``forward(z)`` returns a dict matching :attr:`spec` whose tensors carry ``z``'s
    leading dimensions. Subclasses compute a *standardised* output (unit variance
    at initialisation, for conditioning vectors with unit variance per coordinate)
    in :meth:`raw`, scaled by :attr:`output_gain` (folded into the output layer's
    initial weights); the base class maps it to weights as
    ``θ = mean + scale · raw`` with fixed per-element buffers taken from the
    target's initial statistics (:attr:`init_stats`; ``scale`` is relative,
    of order 1). The generated weights therefore start with the mean and variance
    of the target's own initialisation ("hyperfan-in" style, Chang et al. 2020),
    and because the overall scale lives in the trainable weights, optimiser steps
    change the generated weights at the same rate as hyperfan-in initialisation.

    Args:
        target: the :class:`~hyperfunc.Target` (or its :class:`~hyperfunc.ParamSpec`,
            in which case PyTorch's default initialisation statistics are assumed).
        in_features: size of a conditioning vector.

    Attributes:
        spec: the :class:`~hyperfunc.ParamSpec` the generated dicts match.
        init_stats: the target's :class:`~hyperfunc.InitStats`, which set ``mean`` and ``scale``.
        in_features: size of a conditioning vector.
        output_gain: the overall scale of the generated weights (the root mean square of the
            target's initial standard deviations), folded into the output layer's initial weights.
    """

    offset: Tensor
    scale: Tensor

    def __init__(self, target: Target | ParamSpec, in_features: int) -> None:
        super().__init__()
        if not isinstance(in_features, int) or in_features < 1:
            raise ValueError(f"in_features must be a positive integer, got {in_features!r}")
        spec, stats = _resolve(target)
        self.spec = spec
        self.init_stats = stats
        self.in_features = in_features
        mean, scale = [], []
        for name, n in zip(spec.names, spec.numels):
            sd = math.sqrt(stats.var[name])
            mean.append(torch.full((n,), stats.mean[name]))
            scale.append(torch.full((n,), sd if sd > 0 else ZERO_VAR_SCALE * max(1.0, abs(stats.mean[name]))))
        full = torch.cat(scale) if scale else torch.zeros(0)
        # Split the per-element scale into one overall gain, folded into the output
        # layer's initial weights (so Adam's steps move the weights at a natural rate,
        # as with hyperfan-in init), and a relative per-element factor of order 1.
        self.output_gain = float(full.pow(2).mean().sqrt()) if full.numel() else 1.0
        self.register_buffer("offset", torch.cat(mean) if mean else torch.zeros(0))
        self.register_buffer("scale", full / self.output_gain)

    # ---------------------------------------------------------------- helpers
    def check_input(self, z: Tensor) -> None:
        """Raise a clear error unless ``z`` is a tensor of shape ``[..., in_features]``."""
        if not isinstance(z, Tensor) or z.dim() < 1 or z.shape[-1] != self.in_features:
            got = list(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(
                f"{type(self).__name__} expects conditioning vectors of shape "
                f"[..., {self.in_features}], got {got}; build the hypernetwork with "
                f"in_features matching your embedding's size"
            )
        if not z.is_floating_point():
            raise TypeError(
                f"conditioning vectors must be floating point, got {z.dtype}; "
                "embed integer task ids first (e.g. hyperfunc.embeddings.TaskTable)"
            )

    def raw(self, z: Tensor) -> Tensor:
        """Standardised outputs ``[..., spec.size]`` (subclasses override)."""
        raise NotImplementedError

    def flat(self, z: Tensor) -> Tensor:
        """The generated weights as vectors ``[..., spec.size]`` (no per-tensor split).

        ``forward(z)`` is ``spec.unflatten(flat(z))``; regularisers that compare whole
        weight vectors (HNET) use this to skip a split and a concatenation.
        """
        self.check_input(z)
        return torch.addcmul(self.offset, self.scale, self.raw(z))

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        return self.spec.unflatten(self.flat(z))

    # ------------------------------------------------ output regulariser (HNET)
    def reference(self, z: Tensor) -> Tensor:
        """Detached outputs for ``z`` ``[n, in_features]``, stored for :meth:`flat_with_penalty`.

        The base class stores the flat weights ``flat(z)``; a family may store
        another form that makes the penalty cheaper (:class:`Chunked` stores its
        padded head outputs), so treat the result as opaque.
        """
        with torch.no_grad():
            return self.flat(z).detach()

    def flat_with_penalty(self, z: Tensor, z_old: Tensor, reference: Tensor) -> tuple[Tensor, Tensor]:
        """``flat(z)`` and the mean over rows of ``‖flat(z_old[j]) − h*_j‖²``, in one call.

        ``z`` is one conditioning vector ``[in_features]``; ``z_old`` ``[n, in_features]``
        (``n ≥ 1``) are earlier conditioning vectors and ``reference`` their stored
        outputs from :meth:`reference`. This is HNET's output regulariser (von
        Oswald et al. 2020) computed with the current vector in the same batched
        hypernetwork call.

        Examples:
            >>> import torch, hyperfunc as hf
            >>> target = hf.stateless(hf.targets.mlp(3, 2, hidden=(4,)))
            >>> hnet = hf.hypernets.MLPHyperNet(target, in_features=5)
            >>> z_old = torch.randn(2, 5)
            >>> ref = hnet.reference(z_old)
            >>> flat, penalty = hnet.flat_with_penalty(torch.randn(5), z_old, ref)
            >>> flat.shape, float(penalty.detach())
            (torch.Size([26]), 0.0)
        """
        out = self.flat(torch.cat([z.unsqueeze(0), z_old]))
        return out[0], (out[1:] - reference).pow(2).sum(-1).mean()

    @property
    def compression_ratio(self) -> float:
        """Trainable hypernetwork parameters divided by the target's parameter count."""
        n = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return n / max(1, self.spec.size)
