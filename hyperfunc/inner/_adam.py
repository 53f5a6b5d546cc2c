"""Adam and AdamW over parameter dicts, with ``torch.optim.Adam``'s update (or higher 0.2.1's)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal, NamedTuple

import attrs
import torch
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, check_rate, safe_sqrt, updates

__all__ = ["Adam", "AdamW", "AdamState"]


class AdamState(NamedTuple):
    """Adam's state: a step count and the two moment estimates, per parameter name."""

    step: dict[str, int]
    exp_avg: dict[str, Tensor]
    exp_avg_sq: dict[str, Tensor]
    #: the running maximum of ``exp_avg_sq`` (``amsgrad=True`` only; empty otherwise).
    max_exp_avg_sq: dict[str, Tensor]


def _check_betas(instance: object, attribute: object, value: tuple[float, float]) -> None:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in value)
    ):
        raise ValueError(f"Adam betas must be a pair of floats in [0, 1), got {value!r}")


@attrs.frozen(eq=False)
class Adam(InnerOptimizer[AdamState]):
    """Differentiable Adam, the update of ``torch.optim.Adam`` written without in-place operations.

    With ``g`` the gradient (plus ``weight_decay · p``), step ``t`` (counted per
    parameter, starting at 1), ``m ← β₁m + (1−β₁)g``, ``v ← β₂v + (1−β₂)g²``::

        p ← p − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps)        # eps_mode="torch"
        p ← p − lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + eps)        # eps_mode="higher"

    With ``amsgrad=True`` the running maximum of ``v`` replaces ``v`` in the
    denominator; with ``decoupled_weight_decay=True`` (what :class:`AdamW` is) the
    weights are first shrunk, ``p ← p · (1 − lr · weight_decay)``, instead of the
    decay being added to the gradient, as in ``torch.optim.AdamW``.

    ``"torch"`` (the default) is ``torch.optim.Adam``'s formula: eps is added
    after the bias correction of ``v``. ``"higher"`` reproduces
    ``higher.optim.DifferentiableAdam`` (higher 0.2.1), which adds eps before it,
    so its effective eps is larger by ``1/√(1 − β₂ᵗ)`` (about 30× at step 1 with
    β₂ = 0.999); the two differ only for weights whose gradients are tiny
    compared with eps·30.

    Where ``v`` is exactly zero the square root's derivative is taken as zero,
    so second-order meta-gradients stay finite (higher does the same).

    Args:
        lr: learning rate (a float, or a tensor that may be learned).
        betas: ``(β₁, β₂)``.
        eps: added to the denominator (see ``eps_mode``).
        weight_decay: L2 penalty added to the gradient (``torch.optim.Adam``'s
            ``weight_decay``), or the decoupled decay with ``decoupled_weight_decay``.
        amsgrad: use the running maximum of the second moment (``torch.optim.Adam``'s ``amsgrad``).
        decoupled_weight_decay: AdamW's weight decay (see above).
        eps_mode: ``"torch"`` or ``"higher"`` (see above).

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import Adam
        >>> opt = Adam(lr=0.1)
        >>> params = {"w": torch.tensor([1.0, 2.0])}
        >>> state = opt.init_state(params)
        >>> new, state = opt.step(params, {"w": torch.tensor([3.0, -0.5])}, state)
        >>> new["w"]                      # the first Adam step moves every weight by about lr
        tensor([0.9000, 2.1000])
        >>> state.step
        {'w': 1}
    """

    lr: float | Tensor
    betas: tuple[float, float] = attrs.field(default=(0.9, 0.999), converter=tuple, validator=_check_betas)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    decoupled_weight_decay: bool = False
    eps_mode: Literal["torch", "higher"] = attrs.field(
        default="torch", validator=attrs.validators.in_(("torch", "higher"))
    )

    def __attrs_post_init__(self) -> None:
        check_rate(self.lr, "Adam lr")
        check_rate(self.eps, "Adam eps")
        check_rate(self.weight_decay, "Adam weight_decay")
        if isinstance(self.eps, Tensor):
            raise TypeError("Adam eps must be a float; only lr may be a tensor")

    def init_state(self, params: Mapping[str, Tensor]) -> AdamState:
        """Step 0 and zero moments for every parameter."""
        return AdamState(
            step={n: 0 for n in params},
            exp_avg={n: torch.zeros_like(p) for n, p in params.items()},
            exp_avg_sq={n: torch.zeros_like(p) for n, p in params.items()},
            max_exp_avg_sq={n: torch.zeros_like(p) for n, p in params.items()} if self.amsgrad else {},
        )

    def step(
        self, params: Mapping[str, Tensor], grads: Grads, state: AdamState
    ) -> tuple[dict[str, Tensor], AdamState]:
        """One Adam step for every parameter with a gradient (see the class docstring).

        Raises:
            KeyError: the state has no entry for a parameter with a gradient.
        """
        b1, b2 = self.betas
        new = dict(params)
        steps, ms, vs = dict(state.step), dict(state.exp_avg), dict(state.exp_avg_sq)
        vmax = dict(state.max_exp_avg_sq)
        for name, p, g in updates(params, grads):
            if name not in steps:
                raise KeyError(
                    f"the Adam state has no entry for {name!r} (it has {sorted(steps)}); "
                    "create the state with init_state(params) from the same parameters"
                )
            if self.weight_decay and self.decoupled_weight_decay:
                p = p * (1 - self.lr * self.weight_decay)
            elif self.weight_decay:
                g = g + self.weight_decay * p
            t = steps[name] + 1
            m = ms[name] * b1 + (1 - b1) * g
            v = vs[name] * b2 + (1 - b2) * (g * g)
            denom_v = v
            if self.amsgrad:
                denom_v = vmax[name] = torch.maximum(vmax[name], v)
            bc1, bc2_sqrt = 1 - b1**t, math.sqrt(1 - b2**t)
            if self.eps_mode == "torch":
                new[name] = p - (self.lr / bc1) * (m / (safe_sqrt(denom_v) / bc2_sqrt + self.eps))
            else:
                new[name] = p - (self.lr * bc2_sqrt / bc1) * (m / (safe_sqrt(denom_v) + self.eps))
            steps[name], ms[name], vs[name] = t, m, v
        return new, AdamState(steps, ms, vs, vmax)


@attrs.frozen(eq=False)
class AdamW(Adam):
    """``torch.optim.AdamW``: :class:`Adam` with decoupled weight decay (default 0.01).

    ``p ← p · (1 − lr · weight_decay)``, then the Adam update of the plain gradient.
    ``higher`` 0.2.1 has no AdamW; this is ``torch.optim.AdamW``'s update, written
    without in-place operations so it is differentiable.

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import AdamW
        >>> opt = AdamW(lr=0.1, weight_decay=0.5)
        >>> params = {"w": torch.tensor([1.0, 2.0])}
        >>> new, _ = opt.step(params, {"w": torch.tensor([3.0, -0.5])}, opt.init_state(params))
        >>> new["w"]                      # shrunk by 5 %, then moved by lr
        tensor([0.8500, 2.0000])
    """

    weight_decay: float = 0.01
    decoupled_weight_decay: bool = True
