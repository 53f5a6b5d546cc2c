"""Per-tensor initial statistics of a target, used to initialise hypernetworks."""

from __future__ import annotations

import math

import attrs
import torch
from torch import nn

from hyperfunc._spec import ParamSpec

__all__ = ["InitStats", "init_stats_from_module", "default_init_stats", "sample_params"]

_SMALL = 64  # below this many elements the empirical variance is too noisy to use


@attrs.frozen
class InitStats:
    """Mean and variance of each parameter under the target's own initialisation.

    Hypernetworks use these to make the weights they generate start with the
    statistics a standard initialisation of the target would give ("hyperfan-in"
    style, Chang et al. 2020).
    """

    mean: dict[str, float]
    var: dict[str, float]


def _fan_in(shape: tuple[int, ...]) -> int:
    return max(1, math.prod(shape[1:])) if len(shape) >= 2 else max(1, shape[0] if shape else 1)


def _rule_var(spec: ParamSpec, name: str) -> float:
    """PyTorch's default ``Linear``/``ConvNd`` init: U(±1/sqrt(fan_in)) → var 1/(3 fan_in)."""
    shape = spec.shape_of(name)
    if len(shape) >= 2:
        return 1.0 / (3.0 * _fan_in(shape))
    stem = name.rsplit(".", 1)[0] if "." in name else ""
    sibling = f"{stem}.weight" if stem else "weight"
    if sibling in spec.names and len(spec.shape_of(sibling)) >= 2:
        return 1.0 / (3.0 * _fan_in(spec.shape_of(sibling)))
    return 1.0 / (3.0 * _fan_in(shape))


def default_init_stats(spec: ParamSpec) -> InitStats:
    """Statistics of PyTorch's default initialisation, from shapes alone (mean 0)."""
    return InitStats({n: 0.0 for n in spec.names}, {n: _rule_var(spec, n) for n in spec.names})


#: Attribute a module may set to declare the distribution its own parameters are drawn
#: from: ``{local parameter name: (mean, variance)}``. It overrides the measurement (useful
#: for small tensors, whose measured variance would be noisy).
INIT_ATTRIBUTE = "_hyperfunc_init_stats"


def init_stats_from_module(module: nn.Module) -> InitStats:
    """Measure mean and variance of each of ``module``'s parameters as initialised.

    Tensors whose elements are all equal (e.g. a norm layer's weight of ones) get
    variance 0 and their value as mean. Small tensors with spread (fewer than 64
    elements, e.g. a bias) use PyTorch's default rule instead of a noisy estimate,
    unless their module declares its distribution in an attribute
    ``_hyperfunc_init_stats = {name: (mean, var)}`` (as :func:`~hyperfunc.targets.siren`'s
    layers do: their initialisation is not PyTorch's default).
    """
    spec = ParamSpec.from_module(module)
    mean: dict[str, float] = {}
    var: dict[str, float] = {}
    declared: dict[str, tuple[float, float]] = {}
    for prefix, sub in module.named_modules():
        for local, mv in getattr(sub, INIT_ATTRIBUTE, {}).items():
            declared[f"{prefix}.{local}" if prefix else local] = (float(mv[0]), float(mv[1]))
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name in declared:
                mean[name], var[name] = declared[name]
                continue
            t = p.detach().double()
            if t.numel() == 0:
                mean[name], var[name] = 0.0, 0.0
                continue
            if bool((t == t.flatten()[0]).all()):
                mean[name], var[name] = float(t.flatten()[0]), 0.0
            elif t.numel() < _SMALL:
                mean[name], var[name] = 0.0, _rule_var(spec, name)
            else:
                mean[name], var[name] = float(t.mean()), float(t.var(unbiased=False))
    return InitStats(mean, var)


def sample_params(
    spec: ParamSpec,
    stats: InitStats,
    batch_shape: tuple[int, ...] = (),
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Uniform samples with each tensor's initial mean and variance."""
    out: dict[str, torch.Tensor] = {}
    for name, shape, dtype in zip(spec.names, spec.shapes, spec.dtypes):
        u = torch.rand((*batch_shape, *shape), generator=generator, dtype=dtype) * 2 - 1
        out[name] = stats.mean[name] + u * (3 * stats.var[name]) ** 0.5
    return out
