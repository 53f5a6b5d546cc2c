"""Batch norm in inner loops: per-episode statistics by default, running statistics on request."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hyperfunc as hf
from hyperfunc.inner import SGD, adapt, adapt_with_stats

DTYPE = torch.float64
mse = nn.functional.mse_loss


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8, momentum=0.3), nn.ReLU(), nn.Linear(8, 1))
    return net.to(DTYPE)


def test_running_statistics_follow_an_nn_module_through_the_inner_steps() -> None:
    net = _net()
    target = hf.stateless(net)
    x, y = torch.randn(16, 2, dtype=DTYPE) + 3, torch.randn(16, 1, dtype=DTYPE)
    theta = {n: p.detach().clone().requires_grad_() for n, p in net.named_parameters()}
    before = {k: v.clone() for k, v in target.buffers.items()}
    fast, stats = adapt_with_stats(target, theta, None, mse, x, y, optimizer=SGD(lr=0.1), steps=3)
    # by hand: the module itself, one forward per inner step at that step's weights
    ref, p = _net(), {n: v.detach().clone().requires_grad_() for n, v in theta.items()}
    for _ in range(3):
        out = torch.func.functional_call(ref, p, (x,))  # updates ref's running statistics in place
        g = torch.autograd.grad(mse(out, y), list(p.values()))
        p = {n: (v - 0.1 * gi).detach().requires_grad_() for (n, v), gi in zip(p.items(), g)}
    for k, v in ref.named_buffers():
        torch.testing.assert_close(stats[k], v)
    for k in fast:
        torch.testing.assert_close(fast[k].detach(), p[k].detach())
    assert all(torch.equal(before[k], v) for k, v in target.buffers.items())  # nothing passed in changed
    # the weights are the same as adapt()'s, which leaves running statistics alone (per-episode statistics)
    plain = adapt(target, theta, mse, x, y, optimizer=SGD(lr=0.1), steps=3)
    assert all(torch.equal(plain[k], fast[k]) for k in plain)
    # the meta-gradient flows as with adapt()
    (g,) = torch.autograd.grad(mse(target(fast, x), y), [theta["0.weight"]])
    assert torch.isfinite(g).all() and g.abs().max() > 0


def test_statistics_need_training_mode_and_a_target() -> None:
    net = _net()
    theta = dict(net.named_parameters())
    x, y = torch.randn(4, 2, dtype=DTYPE), torch.randn(4, 1, dtype=DTYPE)
    with pytest.raises(ValueError, match="only happens in training mode"):
        adapt_with_stats(hf.stateless(net).eval(), theta, None, mse, x, y, optimizer=SGD(lr=0.1))
    with pytest.raises(TypeError, match="needs a hyperfunc Target"):
        adapt_with_stats(net, theta, None, mse, x, y, optimizer=SGD(lr=0.1))  # type: ignore[arg-type]
    _, same = hf.stateless(net).eval().with_stats(theta, x)
    assert all(torch.equal(same[k], v) for k, v in net.named_buffers())  # eval: unchanged


def test_higher_front_end_keeps_running_statistics_when_asked() -> None:
    import hyperfunc.higher as hh

    x, y = torch.randn(16, 2, dtype=DTYPE) + 3, torch.randn(16, 1, dtype=DTYPE)
    for track in (False, True):
        net = _net()
        copied = {k: v.clone() for k, v in net.named_buffers()}
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        with hh.innerloop_ctx(net, opt, track_running_stats=track) as (fmodel, diffopt):
            for _ in range(3):
                diffopt.step(mse(fmodel(x), y))
            stats = fmodel.buffers
        ref = _net()  # the module itself, one forward per step at the same fast weights
        p = {n: v.detach().clone().requires_grad_() for n, v in ref.named_parameters()}
        for _ in range(3):
            g = torch.autograd.grad(mse(torch.func.functional_call(ref, p, (x,)), y), list(p.values()))
            p = {n: (v - 0.1 * gi).detach().requires_grad_() for (n, v), gi in zip(p.items(), g)}
        want = dict(ref.named_buffers()) if track else copied
        for k, v in want.items():
            torch.testing.assert_close(stats[k], v)
        assert all(torch.equal(v, copied[k]) for k, v in net.named_buffers())  # the model is unchanged


def test_episodes_each_carry_their_own_statistics() -> None:
    net = _net()
    target = hf.stateless(net)
    theta = {n: p.detach().clone().requires_grad_() for n, p in net.named_parameters()}
    xs, ys = torch.randn(3, 16, 2, dtype=DTYPE) + torch.arange(3.0)[:, None, None], torch.randn(3, 16, 1)
    ys = ys.to(DTYPE)
    fast, stats = adapt_with_stats(
        target, theta, None, mse, xs, ys, optimizer=SGD(lr=0.1), steps=2, episodes=True
    )
    assert stats["1.running_mean"].shape == (3, 8) and fast["0.weight"].shape == (3, 8, 2)
    for e in range(3):
        one, own = adapt_with_stats(target, theta, None, mse, xs[e], ys[e], optimizer=SGD(lr=0.1), steps=2)
        for k in own:
            torch.testing.assert_close(stats[k][e], own[k])
        for k in one:
            torch.testing.assert_close(fast[k][e], one[k])
    _, more = adapt_with_stats(target, fast, stats, mse, xs, ys, optimizer=SGD(lr=0.1), episodes=True)
    assert torch.equal(more["1.num_batches_tracked"], torch.full((3,), 3))  # per-episode statistics go on
