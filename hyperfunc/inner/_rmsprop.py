"""RMSprop over parameter dicts (``torch.optim.RMSprop``: centered, momentum)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import attrs
import torch
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, check_rate, safe_sqrt, updates

__all__ = ["RMSprop", "RMSpropState"]


class RMSpropState(NamedTuple):
    """RMSprop's state per parameter name: steps, the squared-gradient average, and, when used,
    the gradient average (``centered``) and the momentum buffer."""

    step: dict[str, int]
    square_avg: dict[str, Tensor]
    grad_avg: dict[str, Tensor]
    momentum_buffer: dict[str, Tensor]


@attrs.frozen(eq=False)
class RMSprop(InnerOptimizer[RMSpropState]):
    """Differentiable ``torch.optim.RMSprop`` (and ``higher``'s): ``s ← α s + (1−α) g²``,
    ``a = √(s − ḡ²) + eps`` with ``ḡ ← α ḡ + (1−α) g`` when ``centered``, else
    ``a = √s + eps``; then ``p ← p − lr · g / a``, or with momentum
    ``b ← momentum · b + g / a`` and ``p ← p − lr · b``. Where ``s`` is exactly 0 the
    square root's derivative is taken as 0 (the update there is 0 too).

    Args:
        lr: learning rate (a float or a tensor).
        alpha: smoothing constant.
        eps: added to the denominator.
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum factor (0: none).
        centered: normalise by the estimated variance instead of the second moment.

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import RMSprop
        >>> opt = RMSprop(lr=0.01, alpha=0.75)
        >>> params = {"w": torch.tensor([1.0, 2.0])}
        >>> new, _ = opt.step(params, {"w": torch.tensor([3.0, -0.5])}, opt.init_state(params))
        >>> new["w"]                           # g / √(0.25 g²) = ±2
        tensor([0.9800, 2.0200])
    """

    lr: float | Tensor = 0.01
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False

    def __attrs_post_init__(self) -> None:
        for what in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            check_rate(getattr(self, what), f"RMSprop {what}")

    def init_state(self, params: Mapping[str, Tensor]) -> RMSpropState:
        """Zero averages (and buffers when used) for every parameter."""
        zeros = {n: torch.zeros_like(p) for n, p in params.items()}
        return RMSpropState(
            {n: 0 for n in params}, dict(zeros), dict(zeros) if self.centered else {},
            dict(zeros) if self.momentum else {},
        )

    def step(
        self, params: Mapping[str, Tensor], grads: Grads, state: RMSpropState
    ) -> tuple[dict[str, Tensor], RMSpropState]:
        """One RMSprop step for every parameter with a gradient."""
        new = dict(params)
        steps, sq = dict(state.step), dict(state.square_avg)
        ga, bufs = dict(state.grad_avg), dict(state.momentum_buffer)
        for name, p, g in updates(params, grads):
            if self.weight_decay:
                g = g + self.weight_decay * p
            steps[name] = steps.get(name, 0) + 1
            s = sq[name] = sq[name] * self.alpha + (1 - self.alpha) * g * g
            if self.centered:
                m = ga[name] = ga[name] * self.alpha + (1 - self.alpha) * g
                avg = safe_sqrt(s - m * m) + self.eps
            else:
                avg = safe_sqrt(s) + self.eps
            if self.momentum:
                b = bufs[name] = bufs[name] * self.momentum + g / avg
                new[name] = p - self.lr * b
            else:
                new[name] = p - self.lr * (g / avg)
        return new, RMSpropState(steps, sq, ga, bufs)
