"""Shared base weights that hypernetworks modulate (additive updates and masks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from hyperfunc._init_stats import default_init_stats, sample_params
from hyperfunc._spec import ParamSpec
from hyperfunc._target import Target

__all__ = ["select_names", "initial_base"]


def select_names(spec: ParamSpec, include: Sequence[str] | None, default: Sequence[str]) -> list[str]:
    """Validate ``include`` against ``spec`` (or use ``default``), keeping spec order."""
    if include is None:
        return list(default)
    unknown = [n for n in include if n not in spec.names]
    if unknown:
        raise ValueError(
            f"include names {unknown} are not parameters of the target; its parameters are "
            f"{list(spec.names)}"
        )
    return [n for n in spec.names if n in set(include)]


def initial_base(
    target: Target | ParamSpec, spec: ParamSpec, base: Mapping[str, Tensor] | None
) -> nn.Parameter:
    """The flat vector of shared base weights: ``base`` if given, else a fresh init."""
    if base is not None:
        flat = spec.flatten({k: v.detach() for k, v in base.items()})
        if flat.dim() != 1:
            raise ValueError(f"base weights must not have batch dimensions, got {list(flat.shape)}")
        return nn.Parameter(flat.clone())
    stats = target.init_stats if isinstance(target, Target) else default_init_stats(spec)
    return nn.Parameter(spec.flatten(sample_params(spec, stats)))
