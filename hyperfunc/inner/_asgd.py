"""Averaged SGD over parameter dicts (``torch.optim.ASGD``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import attrs
import torch
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, check_rate, updates

__all__ = ["ASGD", "ASGDState"]


class ASGDState(NamedTuple):
    """ASGD's state per parameter name: steps, the current rate ``eta``, the averaging weight ``mu``
    and the running average ``ax`` of the weights."""

    step: dict[str, int]
    eta: dict[str, float | Tensor]
    mu: dict[str, float]
    ax: dict[str, Tensor]


@attrs.frozen(eq=False)
class ASGD(InnerOptimizer[ASGDState]):
    """Differentiable ``torch.optim.ASGD`` (and ``higher``'s update of the weights).

    ``p ← p · (1 − λ η) − η g``, then ``η ← lr / (1 + λ · lr · t)^α`` and
    ``μ ← 1 / max(1, t − t₀)``; ``ax`` (the averaged weights, as ``torch.optim.ASGD``
    keeps them) is part of the state and does not change the update.

    Args:
        lr: learning rate (a float or a tensor).
        lambd: decay term λ.
        alpha: power of the rate's decay.
        t0: step at which averaging starts.
        weight_decay: L2 penalty added to the gradient.

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import ASGD
        >>> opt = ASGD(lr=0.1, lambd=0.0)
        >>> params = {"w": torch.tensor([1.0, 2.0])}
        >>> new, _ = opt.step(params, {"w": torch.tensor([1.0, -1.0])}, opt.init_state(params))
        >>> new["w"]
        tensor([0.9000, 2.1000])
    """

    lr: float | Tensor = 0.01
    lambd: float = 1e-4
    alpha: float = 0.75
    t0: float = 1e6
    weight_decay: float = 0.0

    def __attrs_post_init__(self) -> None:
        for what in ("lr", "lambd", "alpha", "t0", "weight_decay"):
            check_rate(getattr(self, what), f"ASGD {what}")

    def init_state(self, params: Mapping[str, Tensor]) -> ASGDState:
        """Step 0, ``η = lr``, ``μ = 1`` and zero averages for every parameter."""
        return ASGDState(
            {n: 0 for n in params}, {n: self.lr for n in params}, {n: 1.0 for n in params},
            {n: torch.zeros_like(p) for n, p in params.items()},
        )

    def step(
        self, params: Mapping[str, Tensor], grads: Grads, state: ASGDState
    ) -> tuple[dict[str, Tensor], ASGDState]:
        """One ASGD step for every parameter with a gradient."""
        new, steps, etas = dict(params), dict(state.step), dict(state.eta)
        mus, axs = dict(state.mu), dict(state.ax)
        for name, p, g in updates(params, grads):
            if self.weight_decay:
                g = g + self.weight_decay * p
            t = steps[name] = steps.get(name, 0) + 1
            eta = etas[name]
            q = new[name] = p * (1 - self.lambd * eta) - eta * g
            axs[name] = q if mus[name] == 1 else axs[name] + (q - axs[name]) * mus[name]
            etas[name] = self.lr / (1 + self.lambd * self.lr * t) ** self.alpha
            mus[name] = 1 / max(1, t - self.t0)
        return new, ASGDState(steps, etas, mus, axs)
