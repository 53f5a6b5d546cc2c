"""Plain gradient descent over parameter dicts."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, check_rate, updates

__all__ = ["SGD"]


@attrs.frozen(eq=False)
class SGD(InnerOptimizer[None]):
    """Differentiable gradient descent: ``p ← p − lr · (g + weight_decay · p)``.

    The update of ``torch.optim.SGD`` without momentum. It has no state
    (:meth:`init_state` returns ``None``).

    Args:
        lr: the learning rate; a float, or a tensor (for instance one learned in
            the outer loop, which then receives gradients).
        weight_decay: L2 penalty added to the gradient, as in ``torch.optim.SGD``.

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import SGD
        >>> opt = SGD(lr=0.1)
        >>> params = {"w": torch.tensor([1.0, 2.0])}
        >>> new, state = opt.step(params, {"w": torch.tensor([1.0, -1.0])}, opt.init_state(params))
        >>> new["w"]
        tensor([0.9000, 2.1000])
    """

    lr: float | Tensor
    weight_decay: float = 0.0

    def __attrs_post_init__(self) -> None:
        check_rate(self.lr, "SGD lr")
        check_rate(self.weight_decay, "SGD weight_decay")

    def init_state(self, params: Mapping[str, Tensor]) -> None:
        """SGD keeps no state."""
        return None

    def step(self, params: Mapping[str, Tensor], grads: Grads, state: None) -> tuple[dict[str, Tensor], None]:
        """``p − lr · g`` for every parameter with a gradient; the others are returned as they are."""
        new = dict(params)
        for name, p, g in updates(params, grads):
            if self.weight_decay:
                g = g + self.weight_decay * p
            new[name] = p - self.lr * g
        return new, None
