"""Implicit meta-gradients (iMAML): a proximal inner problem, differentiated by a conjugate-gradient solve."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["implicit_gradient"]


def _dot(a: Sequence[Tensor], b: Sequence[Tensor], batched: bool) -> Tensor:
    """Sum of elementwise products: one number, or one per episode (leading axis) when ``batched``."""
    if batched:
        return sum((u * v).flatten(1).sum(1) for u, v in zip(a, b))  # type: ignore[return-value]
    return sum((u * v).sum() for u, v in zip(a, b))  # type: ignore[return-value]


def _scale(c: Tensor, t: Tensor, batched: bool) -> Tensor:
    return c.reshape(-1, *([1] * (t.dim() - 1))) * t if batched else c * t


def conjugate_gradient(
    apply: Callable[[list[Tensor]], list[Tensor]],
    b: list[Tensor],
    steps: int,
    batched: bool,
) -> list[Tensor]:
    """Solve ``A x = b`` for a symmetric ``A`` given as ``apply(x) = A x``.

    Iterations stop (per episode when ``batched``) at the first direction of non-positive
    curvature, which keeps the solve finite when the inner loss is not convex.
    """
    x = [torch.zeros_like(t) for t in b]
    r = [t.clone() for t in b]
    p = [t.clone() for t in r]
    rr = _dot(r, r, batched)
    live = torch.ones_like(rr, dtype=torch.bool)  # per episode: still iterating
    for _ in range(steps):
        ap = apply(p)
        pap = _dot(p, ap, batched)
        # stop where the curvature along p is not positive (the inner loss is not convex there) or
        # the residual vanished: the usual truncated CG, so an indefinite Hessian cannot blow it up
        live = live & (pap > 0) & (rr > 0)
        alpha = torch.where(live, rr / torch.where(live, pap, torch.ones_like(pap)), torch.zeros_like(pap))
        x = [u + _scale(alpha, v, batched) for u, v in zip(x, p)]
        r = [u - _scale(alpha, v, batched) for u, v in zip(r, ap)]
        rr_new = _dot(r, r, batched)
        beta = torch.where(live, rr_new / torch.where(live, rr, torch.ones_like(rr)), torch.zeros_like(rr))
        p = [u + _scale(beta, v, batched) for u, v in zip(r, p)]
        rr = rr_new
        if not bool(live.any()):
            break
    return x


class _Implicit(torch.autograd.Function):
    """Forward: the inner solution φ* (given). Backward: ``(I + H/λ)⁻¹ ∂L/∂φ*`` for the initial weights."""

    @staticmethod
    def forward(ctx: Any, solve: Callable[[list[Tensor]], list[Tensor]], n: int, *tensors: Tensor) -> Any:
        ctx.solve, ctx.n = solve, n
        return tuple(t.clone() for t in tensors[n:])

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> Any:
        solved = ctx.solve([torch.zeros_like(g) if g is None else g for g in grads])
        return (None, None, *solved, *([None] * ctx.n))


def implicit_gradient(
    params: Mapping[str, Tensor],
    phi: Mapping[str, Tensor],
    names: list[str],
    loss_of: Callable[[dict[str, Tensor]], Tensor],
    lam: float,
    cg_steps: int,
    batched: bool,
) -> dict[str, Tensor]:
    """``phi`` (the solution of iMAML's proximal inner problem, without a graph) made differentiable.

    The returned weights carry the implicit meta-gradient ``dφ*/dθ = (I + ∇²L(φ*)/λ)⁻¹``
    with respect to ``params``, applied in the backward pass by ``cg_steps``
    conjugate-gradient iterations with Hessian-vector products of ``loss_of`` at
    ``φ*`` (per episode when ``batched``). The inner loop itself is
    :func:`~hyperfunc.inner.adapt`'s (Rajeswaran et al. 2019).
    """
    phi = dict(phi)
    if not torch.is_grad_enabled() or not any(params[n].requires_grad for n in names):
        return phi

    def solve(grads: list[Tensor]) -> list[Tensor]:
        with torch.enable_grad():
            at = {n: phi[n].detach().requires_grad_() for n in names}
            found = torch.autograd.grad(
                loss_of({**phi, **at}), list(at.values()), create_graph=True, allow_unused=True
            )
            first = [torch.zeros_like(at[n]) if g is None else g for n, g in zip(names, found)]

            def apply(v: list[Tensor]) -> list[Tensor]:
                hv = torch.autograd.grad(first, list(at.values()), v, retain_graph=True, allow_unused=True)
                return [u + (torch.zeros_like(u) if h is None else h) / lam for u, h in zip(v, hv)]

            return [t.detach() for t in conjugate_gradient(apply, grads, cg_steps, batched)]

    out = _Implicit.apply(  # type: ignore[no-untyped-call]
        solve, len(names), *(params[n] for n in names), *(phi[n] for n in names)
    )
    return {**phi, **dict(zip(names, out))}
