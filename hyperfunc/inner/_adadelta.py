"""Adadelta over parameter dicts (``torch.optim.Adadelta``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import attrs
import torch
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, check_rate, updates

__all__ = ["Adadelta", "AdadeltaState"]


class AdadeltaState(NamedTuple):
    """Adadelta's state per parameter name: steps, the squared-gradient and squared-update averages."""

    step: dict[str, int]
    square_avg: dict[str, Tensor]
    acc_delta: dict[str, Tensor]


@attrs.frozen(eq=False)
class Adadelta(InnerOptimizer[AdadeltaState]):
    """Differentiable ``torch.optim.Adadelta`` (and ``higher``'s): ``s ← ρ s + (1−ρ) g²``,
    ``δ = √(u + eps) / √(s + eps) · g``, ``u ← ρ u + (1−ρ) δ²``, ``p ← p − lr · δ``.

    Args:
        lr: scale of the update (a float or a tensor).
        rho: smoothing constant.
        eps: added inside the square roots.
        weight_decay: L2 penalty added to the gradient.

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import Adadelta
        >>> opt = Adadelta(lr=1.0, rho=0.0, eps=1e-6)
        >>> params = {"w": torch.tensor([1.0])}
        >>> new, _ = opt.step(params, {"w": torch.tensor([2.0])}, opt.init_state(params))
        >>> new["w"]                           # δ = √1e-6 / √(4 + 1e-6) · 2
        tensor([0.9990])
    """

    lr: float | Tensor = 1.0
    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0

    def __attrs_post_init__(self) -> None:
        for what in ("lr", "rho", "eps", "weight_decay"):
            check_rate(getattr(self, what), f"Adadelta {what}")

    def init_state(self, params: Mapping[str, Tensor]) -> AdadeltaState:
        """Zero averages for every parameter."""
        zeros = {n: torch.zeros_like(p) for n, p in params.items()}
        return AdadeltaState({n: 0 for n in params}, dict(zeros), dict(zeros))

    def step(
        self, params: Mapping[str, Tensor], grads: Grads, state: AdadeltaState
    ) -> tuple[dict[str, Tensor], AdadeltaState]:
        """One Adadelta step for every parameter with a gradient."""
        new, steps, sq, acc = dict(params), dict(state.step), dict(state.square_avg), dict(state.acc_delta)
        rho = self.rho
        for name, p, g in updates(params, grads):
            if self.weight_decay:
                g = g + self.weight_decay * p
            steps[name] = steps.get(name, 0) + 1
            s = sq[name] = sq[name] * rho + (1 - rho) * g * g
            delta = (acc[name] + self.eps).sqrt() / (s + self.eps).sqrt() * g
            acc[name] = acc[name] * rho + (1 - rho) * delta * delta
            new[name] = p - self.lr * delta
        return new, AdadeltaState(steps, sq, acc)
