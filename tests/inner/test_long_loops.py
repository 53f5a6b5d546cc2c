"""Long inner loops: checkpointed steps, truncated backpropagation, Reptile (float64)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import hyperfunc as hf
from hyperfunc.inner import SGD, Adam, MetaSGD, adapt, adapt_batched, reptile

from ._helpers import DTYPE, PROBLEMS, leaves, max_err


def _optimizer(name: str, theta: dict[str, torch.Tensor]) -> Any:
    return {
        "sgd": lambda: SGD(lr=0.05, momentum=0.5),
        "adam": lambda: Adam(lr=0.01),
        "meta-sgd": lambda: MetaSGD(MetaSGD.init_rates(theta, lr=0.03)),
    }[name]()


@pytest.mark.parametrize("steps", [1, 4, 7])  # one segment; segments of 2 (⌈√4⌉); a short last one
@pytest.mark.parametrize("opt", ["sgd", "adam", "meta-sgd"])
@pytest.mark.parametrize("problem", ["mlp", "conv"])
def test_checkpointed_inner_loop_gives_the_stored_meta_gradients(problem: str, opt: str, steps: int) -> None:
    make, data, loss = PROBLEMS[problem]
    (xs, ys), (xq, yq) = data(), data(seed=1)
    out = []
    for checkpoint in (False, True):
        model = make()
        target, theta = hf.stateless(model), leaves(model)
        optimizer = _optimizer(opt, theta)
        fast = adapt(target, theta, loss, xs, ys, optimizer=optimizer, steps=steps, checkpoint=checkpoint)
        wrt = list(theta.values()) + (list(optimizer.lrs.values()) if opt == "meta-sgd" else [])
        out.append(torch.autograd.grad(loss(target(fast, xq), yq), wrt))
    assert max(g.abs().max().item() for g in out[0]) > 1e-4
    assert max_err(out[0], out[1]) < 1e-12


def test_checkpointed_batched_inner_loop_gives_the_stored_meta_gradients() -> None:
    make, data, loss = PROBLEMS["mlp"]
    xs, ys = data(episodes=3)
    xq, yq = data(episodes=3, seed=1)
    out = []
    for checkpoint in (False, True):
        model = make()
        target, theta = hf.stateless(model), leaves(model)
        fast = adapt_batched(
            target, theta, loss, xs, ys, optimizer=Adam(lr=0.01), steps=3, checkpoint=checkpoint
        )
        query = torch.func.vmap(loss)(target.batched(fast, xq), yq).sum()
        out.append(torch.autograd.grad(query, list(theta.values())))
    assert max_err(out[0], out[1]) < 1e-12


@pytest.mark.parametrize("truncate", [1, 2, 5])
def test_truncated_backprop_equals_a_hand_built_truncation(truncate: int) -> None:
    make, data, loss = PROBLEMS["mlp"]
    (xs, ys), (xq, yq) = data(), data(seed=1)
    model = make()
    target, theta = hf.stateless(model), leaves(model)
    fast = adapt(target, theta, loss, xs, ys, optimizer=SGD(lr=0.05), steps=5, truncate=truncate)
    got = torch.autograd.grad(loss(target(fast, xq), yq), list(theta.values()))
    # by hand: the first 5 - k steps without create_graph (first order), the last k with it
    p = dict(theta)
    for i in range(5):
        g = torch.autograd.grad(loss(target(p, xs), ys), list(p.values()), create_graph=i >= 5 - truncate)
        p = {n: v - 0.05 * gi for (n, v), gi in zip(p.items(), g)}
    want = torch.autograd.grad(loss(target(p, xq), yq), list(theta.values()))
    assert max_err(got, want) < 1e-12
    full = torch.autograd.grad(
        loss(target(adapt(target, theta, loss, xs, ys, optimizer=SGD(lr=0.05), steps=5), xq), yq),
        list(theta.values()),
    )
    assert (max_err(got, full) < 1e-12) == (truncate == 5)  # truncating changes it, unless nothing is cut


def test_reptile_is_theta_minus_the_adapted_weights() -> None:
    make, data, loss = PROBLEMS["mlp"]
    model = make()
    target, theta = hf.stateless(model), leaves(model)
    xs, ys = data(episodes=4)
    fast = adapt_batched(target, theta, loss, xs, ys, optimizer=SGD(lr=0.05), steps=3, first_order=True)
    grads = reptile(theta, fast)
    for n, p in theta.items():
        torch.testing.assert_close(grads[n], p.detach() - fast[n].detach().mean(0))
        assert not grads[n].requires_grad
    with pytest.raises(ValueError, match=r"adapted\['0.weight'\] has shape \[2, 2\]"):
        reptile(theta, {**fast, "0.weight": torch.zeros(2, 2, dtype=DTYPE)})


def test_bad_memory_options() -> None:
    make, data, loss = PROBLEMS["mlp"]
    model = make()
    x, y = data()
    with pytest.raises(ValueError, match="truncate must be None .* or an int >= 1"):
        adapt(hf.stateless(model), leaves(model), loss, x, y, optimizer=SGD(lr=0.1), truncate=0)
    with pytest.raises(TypeError, match="checkpoint must be True or False"):
        adapt(hf.stateless(model), leaves(model), loss, x, y, optimizer=SGD(lr=0.1), checkpoint="yes")  # type: ignore[arg-type]


def test_checkpointed_inner_loop_replays_dropout_with_the_forward_pass_random_numbers() -> None:
    x, y = torch.randn(12, 3, dtype=DTYPE), torch.randn(12, 1, dtype=DTYPE)
    out = []
    for checkpoint in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Dropout(0.5), torch.nn.Linear(16, 1)).to(
            DTYPE
        )
        target, theta = hf.stateless(model), leaves(model)
        mse = torch.nn.functional.mse_loss
        fast = adapt(
            target, theta, mse, x, y, optimizer=SGD(lr=0.1, momentum=0.9), steps=5, checkpoint=checkpoint
        )
        out.append(torch.autograd.grad(mse(target(fast, x), y), list(theta.values())))
    assert max_err(out[0], out[1]) < 1e-12
