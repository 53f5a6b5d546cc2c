"""Adamax over parameter dicts (``torch.optim.Adamax``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import attrs
import torch
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, check_rate, updates

__all__ = ["Adamax", "AdamaxState"]


class AdamaxState(NamedTuple):
    """Adamax's state per parameter name: steps, the first moment and the infinity norm."""

    step: dict[str, int]
    exp_avg: dict[str, Tensor]
    exp_inf: dict[str, Tensor]


@attrs.frozen(eq=False)
class Adamax(InnerOptimizer[AdamaxState]):
    """Differentiable ``torch.optim.Adamax`` (and ``higher``'s): ``m ← β₁m + (1−β₁)g``,
    ``u ← max(β₂u, |g| + eps)``, ``p ← p − lr / (1 − β₁ᵗ) · m / u``. At a tie the
    maximum's gradient goes to the decayed norm, as in ``higher``.

    Args:
        lr: learning rate (a float or a tensor).
        betas: ``(β₁, β₂)``.
        eps: added to ``|g|``.
        weight_decay: L2 penalty added to the gradient.

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import Adamax
        >>> opt = Adamax(lr=0.1)
        >>> params = {"w": torch.tensor([1.0, 2.0])}
        >>> new, _ = opt.step(params, {"w": torch.tensor([3.0, -0.5])}, opt.init_state(params))
        >>> new["w"]
        tensor([0.9000, 2.1000])
    """

    lr: float | Tensor = 2e-3
    betas: tuple[float, float] = attrs.field(default=(0.9, 0.999), converter=tuple)
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __attrs_post_init__(self) -> None:
        for what in ("lr", "eps", "weight_decay"):
            check_rate(getattr(self, what), f"Adamax {what}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"Adamax betas must be a pair of floats in [0, 1), got {self.betas!r}")

    def init_state(self, params: Mapping[str, Tensor]) -> AdamaxState:
        """Step 0 and zero moments for every parameter."""
        zeros = {n: torch.zeros_like(p) for n, p in params.items()}
        return AdamaxState({n: 0 for n in params}, dict(zeros), dict(zeros))

    def step(
        self, params: Mapping[str, Tensor], grads: Grads, state: AdamaxState
    ) -> tuple[dict[str, Tensor], AdamaxState]:
        """One Adamax step for every parameter with a gradient."""
        b1, b2 = self.betas
        new, steps, ms, us = dict(params), dict(state.step), dict(state.exp_avg), dict(state.exp_inf)
        for name, p, g in updates(params, grads):
            if self.weight_decay:
                g = g + self.weight_decay * p
            t = steps[name] = steps.get(name, 0) + 1
            m = ms[name] = ms[name] * b1 + (1 - b1) * g
            u = us[name] = torch.stack([us[name] * b2, g.abs() + self.eps]).max(0).values
            new[name] = p - (self.lr / (1 - b1**t)) * (m / u)
        return new, AdamaxState(steps, ms, us)
