"""Rprop over parameter dicts (``torch.optim.Rprop``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import attrs
import torch
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, check_rate, updates

__all__ = ["Rprop", "RpropState"]


class RpropState(NamedTuple):
    """Rprop's state per parameter name: steps, the previous gradient and the per-weight step sizes."""

    step: dict[str, int]
    prev: dict[str, Tensor]
    step_size: dict[str, Tensor]


@attrs.frozen(eq=False)
class Rprop(InnerOptimizer[RpropState]):
    """Differentiable ``torch.optim.Rprop`` (and ``higher``'s): sign-based steps of adaptive size.

    Each weight's step size grows by ``etas[1]`` while its gradient keeps its sign
    and shrinks by ``etas[0]`` when the sign flips (that step is then skipped),
    clamped to ``step_sizes``; ``p ← p − sign(g) · step_size``. The update depends
    on the gradient only through signs, so its derivative with respect to the
    gradient is zero (almost everywhere): second-order meta-gradients flow only
    through the weights themselves, exactly as ``higher`` computes them.

    Args:
        lr: the initial step size.
        etas: ``(decrease, increase)`` factors.
        step_sizes: ``(minimum, maximum)`` step size.

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import Rprop
        >>> opt = Rprop(lr=0.1)
        >>> params = {"w": torch.tensor([1.0, 2.0])}
        >>> new, _ = opt.step(params, {"w": torch.tensor([3.0, -0.5])}, opt.init_state(params))
        >>> new["w"]
        tensor([0.9000, 2.1000])
    """

    lr: float = 0.01
    etas: tuple[float, float] = attrs.field(default=(0.5, 1.2), converter=tuple)
    step_sizes: tuple[float, float] = attrs.field(default=(1e-6, 50.0), converter=tuple)

    def __attrs_post_init__(self) -> None:
        check_rate(self.lr, "Rprop lr")
        if isinstance(self.lr, Tensor):
            raise TypeError("Rprop lr must be a float: it only sets the initial step sizes")
        if len(self.etas) != 2 or not 0.0 < self.etas[0] < 1.0 < self.etas[1]:
            raise ValueError(f"Rprop etas must be (decrease, increase) with 0 < decrease < 1 < increase, "
                             f"got {self.etas!r}")
        if len(self.step_sizes) != 2 or not 0.0 <= self.step_sizes[0] <= self.step_sizes[1]:
            raise ValueError(f"Rprop step_sizes must be (minimum, maximum) with 0 <= minimum <= maximum, "
                             f"got {self.step_sizes!r}")

    def init_state(self, params: Mapping[str, Tensor]) -> RpropState:
        """Zero previous gradients and step sizes of ``lr`` for every parameter."""
        return RpropState(
            {n: 0 for n in params}, {n: torch.zeros_like(p) for n, p in params.items()},
            {n: torch.full_like(p, self.lr) for n, p in params.items()},
        )

    def step(
        self, params: Mapping[str, Tensor], grads: Grads, state: RpropState
    ) -> tuple[dict[str, Tensor], RpropState]:
        """One Rprop step for every parameter with a gradient."""
        (down, up), (low, high) = self.etas, self.step_sizes
        new, steps, prevs, sizes = dict(params), dict(state.step), dict(state.prev), dict(state.step_size)
        for name, p, g in updates(params, grads):
            steps[name] = steps.get(name, 0) + 1
            agree = (g * prevs[name]).sign()
            factor = torch.where(agree > 0, up, torch.where(agree < 0, down, torch.ones_like(g)))
            size = sizes[name] = (sizes[name] * factor).clamp(low, high)
            g = torch.where(agree < 0, torch.zeros_like(g), g)  # a flipped sign: no step this time
            new[name] = p - g.sign() * size
            prevs[name] = g.clone()
        return new, RpropState(steps, prevs, sizes)
