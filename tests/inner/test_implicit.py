"""Implicit meta-gradients (iMAML) against the closed form of a quadratic inner problem."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hyperfunc as hf
from hyperfunc.inner import SGD, Adam, MetaSGD, adapt, adapt_batched

DTYPE = torch.float64


def _problem(seed: int = 0, n: int = 12, d: int = 5) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=DTYPE)
    y = torch.randn(n, 1, generator=g, dtype=DTYPE)
    xq = torch.randn(n, d, generator=g, dtype=DTYPE)
    yq = torch.randn(n, 1, generator=g, dtype=DTYPE)
    return x, y, xq, yq


def _closed_form(
    theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, xq: torch.Tensor, yq: torch.Tensor, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """φ* = argmin mse(xφ, y) + λ/2‖φ−θ‖² and the exact d mse(xq φ*, yq) / dθ."""
    n = x.shape[0]
    a = 2 * x.T @ x / n  # Hessian of the mean squared error
    phi = torch.linalg.solve(a + lam * torch.eye(a.shape[0], dtype=DTYPE), 2 * x.T @ y / n + lam * theta)
    grad_phi = 2 * xq.T @ (xq @ phi - yq) / xq.shape[0]
    exact = lam * torch.linalg.solve(a + lam * torch.eye(a.shape[0], dtype=DTYPE), grad_phi)
    return phi, exact


@pytest.mark.parametrize("lam", [0.5, 2.0])
def test_implicit_meta_gradient_equals_the_closed_form(lam: float) -> None:
    x, y, xq, yq = _problem()
    target = hf.stateless(nn.Linear(5, 1, bias=False).double())
    theta = {
        "weight": torch.randn(1, 5, generator=torch.Generator().manual_seed(3), dtype=DTYPE).requires_grad_()
    }
    mse = nn.functional.mse_loss
    fast = adapt(target, theta, mse, x, y, optimizer=SGD(lr=0.1), steps=400, implicit=lam, cg_steps=20)
    phi, exact = _closed_form(theta["weight"].detach().T, x, y, xq, yq, lam)
    torch.testing.assert_close(
        fast["weight"].detach().T, phi, rtol=1e-8, atol=1e-10
    )  # the inner problem solved
    (grad,) = torch.autograd.grad(mse(target(fast, xq), yq), [theta["weight"]])
    torch.testing.assert_close(grad.T, exact, rtol=1e-8, atol=1e-10)


def test_batched_implicit_equals_one_episode_at_a_time() -> None:
    episodes = [_problem(seed=s) for s in range(3)]
    x, y, xq, yq = (torch.stack([e[i] for e in episodes]) for i in range(4))
    target = hf.stateless(nn.Linear(5, 1, bias=False).double())
    theta = {
        "weight": torch.randn(1, 5, generator=torch.Generator().manual_seed(3), dtype=DTYPE).requires_grad_()
    }
    mse = nn.functional.mse_loss
    fast = adapt_batched(
        target, theta, mse, x, y, optimizer=Adam(lr=0.05), steps=300, implicit=1.0, cg_steps=20
    )
    (got,) = torch.autograd.grad(torch.func.vmap(mse)(target.batched(fast, xq), yq).sum(), [theta["weight"]])
    want = sum(_closed_form(theta["weight"].detach().T, *e, 1.0)[1] for e in episodes)
    torch.testing.assert_close(got.T, want, rtol=1e-6, atol=1e-8)


def test_implicit_memory_does_not_keep_the_inner_steps() -> None:
    x, y, _, _ = _problem()
    target = hf.stateless(nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1)).double())
    theta = {k: v.requires_grad_() for k, v in target.init_params().items()}
    fast = adapt(target, theta, nn.functional.mse_loss, x, y, optimizer=SGD(lr=0.05), steps=50, implicit=1.0)
    # the adapted weights hang on one custom node whose inputs are the initial weights: no step graph
    node = fast["0.weight"].grad_fn
    assert node is not None and type(node).__name__ == "_ImplicitBackward"
    inputs = [f for f, _ in node.next_functions if f is not None]
    assert inputs and all(type(f).__name__ == "AccumulateGrad" for f in inputs)


def test_bad_implicit_arguments() -> None:
    x, y, _, _ = _problem()
    target = hf.stateless(nn.Linear(5, 1, bias=False).double())
    theta = {"weight": torch.zeros(1, 5, dtype=DTYPE, requires_grad=True)}
    mse = nn.functional.mse_loss
    with pytest.raises(ValueError, match=r"implicit \(the proximal strength λ\) must be a finite number > 0"):
        adapt(target, theta, mse, x, y, optimizer=SGD(lr=0.1), implicit=0.0)
    with pytest.raises(ValueError, match="cg_steps must be an int >= 1.*drop only="):
        adapt(target, theta, mse, x, y, optimizer=SGD(lr=0.1), implicit=1.0, cg_steps=0, only=["weight"])
    with pytest.raises(ValueError, match="learned rates would get no implicit meta-gradient"):
        adapt(target, theta, mse, x, y, optimizer=MetaSGD(MetaSGD.init_rates(theta, lr=0.1)), implicit=1.0)
    with pytest.raises(ValueError, match="implicit replaces first_order"):
        adapt(target, theta, mse, x, y, optimizer=SGD(lr=0.1), implicit=1.0, truncate=1)
