"""Adagrad over parameter dicts (``torch.optim.Adagrad``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import attrs
import torch
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, check_rate, safe_sqrt, updates

__all__ = ["Adagrad", "AdagradState"]


class AdagradState(NamedTuple):
    """Adagrad's state per parameter name: steps and the running sum of squared gradients."""

    step: dict[str, int]
    sum: dict[str, Tensor]


@attrs.frozen(eq=False)
class Adagrad(InnerOptimizer[AdagradState]):
    """Differentiable ``torch.optim.Adagrad`` (and ``higher``'s): ``S ← S + g²``,
    ``p ← p − lr / (1 + (t − 1) · lr_decay) · g / (√S + eps)`` at step ``t``.

    Args:
        lr: learning rate (a float or a tensor).
        lr_decay: learning-rate decay.
        weight_decay: L2 penalty added to the gradient.
        initial_accumulator_value: the starting value of ``S``.
        eps: added to the denominator.

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import Adagrad
        >>> opt = Adagrad(lr=0.1)
        >>> params = {"w": torch.tensor([1.0, 2.0])}
        >>> new, _ = opt.step(params, {"w": torch.tensor([3.0, -0.5])}, opt.init_state(params))
        >>> new["w"]
        tensor([0.9000, 2.1000])
    """

    lr: float | Tensor = 0.01
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10

    def __attrs_post_init__(self) -> None:
        for what in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_rate(getattr(self, what), f"Adagrad {what}")

    def init_state(self, params: Mapping[str, Tensor]) -> AdagradState:
        """Step 0 and ``S = initial_accumulator_value`` for every parameter."""
        return AdagradState(
            {n: 0 for n in params},
            {n: torch.full_like(p, self.initial_accumulator_value) for n, p in params.items()},
        )

    def step(
        self, params: Mapping[str, Tensor], grads: Grads, state: AdagradState
    ) -> tuple[dict[str, Tensor], AdagradState]:
        """One Adagrad step for every parameter with a gradient."""
        new, steps, sums = dict(params), dict(state.step), dict(state.sum)
        for name, p, g in updates(params, grads):
            if self.weight_decay:
                g = g + self.weight_decay * p
            t = steps[name] = steps.get(name, 0) + 1
            s = sums[name] = sums[name] + g * g
            clr = self.lr / (1 + (t - 1) * self.lr_decay)
            new[name] = p - clr * (g / (safe_sqrt(s) + self.eps))
        return new, AdagradState(steps, sums)
