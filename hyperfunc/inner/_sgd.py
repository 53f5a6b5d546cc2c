"""Gradient descent over parameter dicts, with ``torch.optim.SGD``'s momentum, dampening and Nesterov."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import attrs
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, check_rate, updates

__all__ = ["SGD", "SGDState"]


class SGDState(NamedTuple):
    """SGD's state: the momentum buffer of every parameter updated so far (empty without momentum)."""

    momentum_buffer: dict[str, Tensor]


@attrs.frozen(eq=False)
class SGD(InnerOptimizer[SGDState]):
    """Differentiable ``torch.optim.SGD``: ``p ← p − lr · d`` with ``g = ∇ + weight_decay · p`` and
    ``d = g`` without momentum; with momentum ``b ← g`` on the first step, then
    ``b ← momentum · b + (1 − dampening) · g``, and ``d = b`` (or ``g + momentum · b``
    with ``nesterov=True``): ``torch.optim.SGD``'s and ``higher``'s update, written
    without in-place operations so it is differentiable.

    Args:
        lr: the learning rate; a float, or a tensor (for instance one learned in
            the outer loop, which then receives gradients).
        momentum: momentum factor (0: none, and no state is kept).
        dampening: dampening of the momentum.
        weight_decay: L2 penalty added to the gradient.
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``, as in torch).

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import SGD
        >>> opt = SGD(lr=0.1, momentum=0.9)
        >>> params, g = {"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([1.0, -1.0])}
        >>> new, state = opt.step(params, g, opt.init_state(params))
        >>> new, _ = opt.step(new, g, state)        # the buffer is now 0.9 · g + g
        >>> new["w"]
        tensor([0.7100, 2.2900])
    """

    lr: float | Tensor
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False

    def __attrs_post_init__(self) -> None:
        check_rate(self.lr, "SGD lr")
        check_rate(self.momentum, "SGD momentum")
        check_rate(self.dampening, "SGD dampening")
        check_rate(self.weight_decay, "SGD weight_decay")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                f"SGD nesterov=True needs momentum > 0 and dampening == 0 (as torch.optim.SGD), got "
                f"momentum={self.momentum}, dampening={self.dampening}"
            )

    def init_state(self, params: Mapping[str, Tensor]) -> SGDState:
        """No momentum buffers yet (each is the first gradient, as in torch)."""
        return SGDState({})

    def step(
        self, params: Mapping[str, Tensor], grads: Grads, state: SGDState | None
    ) -> tuple[dict[str, Tensor], SGDState]:
        """One step for every parameter with a gradient; the others are returned as they are.

        ``state`` may be ``None`` without momentum (SGD used to keep no state).
        """
        new, bufs = dict(params), {} if state is None else dict(state.momentum_buffer)
        for name, p, g in updates(params, grads):
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                buf = g if name not in bufs else bufs[name] * self.momentum + (1 - self.dampening) * g
                bufs[name] = buf
                g = g + self.momentum * buf if self.nesterov else buf
            new[name] = p - self.lr * g
        return new, SGDState(bufs)
