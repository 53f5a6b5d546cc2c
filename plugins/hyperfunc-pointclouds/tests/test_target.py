"""The hypercloud target and the ball / sphere samplers."""

from __future__ import annotations

import itertools
import math

import hyperfunc as hf
import pytest
import torch
from torch import nn

from hyperfunc_pointclouds import HyperCloud, hypercloud, sample_unit_ball, sample_unit_sphere


def hand_built(hidden: tuple[int, ...] = (32, 64, 128, 64)) -> nn.Sequential:
    sizes = [3, *hidden, 3]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def test_architecture_is_the_papers() -> None:
    net = hypercloud()
    linears = [m for m in net if isinstance(m, nn.Linear)]
    sizes = [(m.in_features, m.out_features) for m in linears]
    assert sizes == [(3, 32), (32, 64), (64, 128), (128, 64), (64, 3)]
    assert sum(isinstance(m, nn.ReLU) for m in net) == 4
    assert isinstance(hypercloud((8,), "tanh")[1], nn.Tanh)
    assert [k for k, _ in net.named_parameters()] == list(hand_built().state_dict())


def test_stateless_target_has_fast_batched_path() -> None:
    target = hf.stateless(hypercloud())
    assert target.has_fast_path
    weights = 3 * 32 + 32 * 64 + 64 * 128 + 128 * 64 + 64 * 3
    biases = 32 + 64 + 128 + 64 + 3
    assert target.spec.size == weights + biases


@pytest.mark.parametrize("shared", [False, True])
def test_generated_weights_batched_equal_hand_built_modules(shared: bool) -> None:
    """Weights from the hypernetwork, per object, loaded into a plain nn.Sequential."""
    model = HyperCloud(dim=8, encoder_widths=(16,), hypernet_hidden=(16,))
    clouds = torch.randn(3, 40, 3)
    with torch.no_grad():
        params = model(clouds)
        base = sample_unit_ball(25) if shared else sample_unit_ball(25, batch=(3,))
        batched = model.target.batched(params, base, shared=shared)
        vmapped = model.target.batched(params, base, shared=shared, fast=False)
        decoded = model.decode(params, base)
    assert batched.shape == (3, 25, 3)
    net = hand_built()
    for i in range(3):
        net.load_state_dict({k: v[i] for k, v in params.items()})
        with torch.no_grad():
            want = net(base if shared else base[i])
        torch.testing.assert_close(batched[i], want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(vmapped[i], want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(decoded[i], want, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(batched[0], batched[1])  # different objects, different weights


def test_bad_target_arguments() -> None:
    with pytest.raises(ValueError, match="'relu', 'tanh'") as info:
        hypercloud(activation="swish")
    assert "'swish'" in str(info.value)
    with pytest.raises(ValueError, match=r"hidden\[1\]=0"):
        hypercloud((8, 0))
    with pytest.raises(ValueError, match="sequence of layer widths"):
        hypercloud(32)  # type: ignore[arg-type]


# -------------------------------------------------------------------- samplers
def test_unit_ball_is_uniform() -> None:
    g = torch.Generator().manual_seed(0)
    x = sample_unit_ball(40_000, generator=g, dtype=torch.float64)
    r = x.norm(dim=-1)
    assert x.shape == (40_000, 3) and bool((r <= 1).all())
    # uniform in volume: P(r <= t) = t³
    for t in (0.3, 0.5, 0.8):
        p = t**3
        sd = math.sqrt(p * (1 - p) / len(r))
        assert abs(float((r <= t).double().mean()) - p) < 5 * sd
    assert float(x.mean(0).abs().max()) < 0.02  # centred; E[x²] = 1/5 per coordinate
    fifth = torch.full((3,), 0.2, dtype=torch.float64)
    torch.testing.assert_close(x.pow(2).mean(0), fifth, atol=0.01, rtol=0)


def test_unit_sphere() -> None:
    x = sample_unit_sphere(20_000, batch=(2,), generator=torch.Generator().manual_seed(1))
    assert x.shape == (2, 20_000, 3) and x.dtype == torch.float32
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(2, 20_000))
    torch.testing.assert_close(x.pow(2).mean(1), torch.full((2, 3), 1 / 3), atol=0.01, rtol=0)


def test_samplers_are_reproducible_and_leave_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a = sample_unit_ball(10, batch=(2, 3), generator=torch.Generator().manual_seed(5))
    b = sample_unit_ball(10, batch=(2, 3), generator=torch.Generator().manual_seed(5))
    assert a.shape == (2, 3, 10, 3) and torch.equal(a, b)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_sampler_errors() -> None:
    with pytest.raises(ValueError, match="n=0"):
        sample_unit_ball(0)
    with pytest.raises(ValueError, match="batch must hold non-negative ints"):
        sample_unit_sphere(5, batch=(2, -1))
    with pytest.raises(ValueError, match="sequence of sizes"):
        sample_unit_ball(5, batch=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="floating dtype"):
        sample_unit_ball(5, dtype=torch.int64)
