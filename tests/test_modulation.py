"""Modulation (COIN++ / functa): generated weights against a SIREN whose layers are modulated by hooks."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import hyperfunc as hf
from hyperfunc.hypernets import Modulation


def reference(module: nn.Sequential, mod: Modulation, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One object: the module with the shared weights, each hidden Linear's output scaled and shifted."""
    net = copy.deepcopy(module)
    net.load_state_dict(mod.base_params())
    n = sum(mod.widths)
    out = mod.map(z)
    shifts = out[:n].split(mod.widths)
    scales = [1 + a for a in out[n:].split(mod.widths)] if mod.with_scale else [1.0] * len(shifts)
    hidden = [m for m in net if isinstance(m, nn.Linear)][:-1]
    for layer, shift, scale in zip(hidden, shifts, scales):
        layer.register_forward_hook(lambda _m, _i, y, s=shift, a=scale: a * y + s)
    return net(x)


@pytest.mark.parametrize("scale", [False, True])
def test_generated_weights_are_the_hooked_module(scale: bool) -> None:
    module = hf.targets.siren(2, 3, hidden=(8, 8, 8))
    target = hf.stateless(module)
    mod = Modulation(target, in_features=5, scale=scale)
    with torch.no_grad():
        mod.map.bias.normal_(0, 0.1)  # not the zero start: every part of the map matters
    z, x = torch.randn(4, 5), torch.rand(4, 11, 2) * 2 - 1
    got = target.batched(mod(z), x)
    for i in range(4):
        torch.testing.assert_close(got[i], reference(module, mod, z[i], x[i]), rtol=1e-4, atol=1e-5)


def test_zero_latent_is_the_shared_network_and_shifts_share_the_matrices() -> None:
    target = hf.stateless(hf.targets.mlp(3, 2, hidden=(6, 6)))
    mod = Modulation(target, in_features=4)
    p = mod(torch.zeros(3, 4))
    for name, w in mod.base_params().items():
        torch.testing.assert_close(p[name], w.expand_as(p[name]))
    assert p["0.weight"].stride(0) == 0  # the shared matrix, expanded, not copied
    assert mod.map.out_features == 12 and mod.layers == [("0.weight", "0.bias"), ("2.weight", "2.bias")]


@given(batch=st.lists(st.integers(1, 3), min_size=0, max_size=2), latent=st.integers(1, 6))
def test_shapes_follow_the_latents_leading_axes(batch: list[int], latent: int) -> None:
    target = hf.stateless(hf.targets.siren(2, 1, hidden=(4,)))
    mod = Modulation(target, in_features=latent, scale=True)
    p = mod(torch.randn(*batch, latent))
    assert {n: tuple(t.shape) for n, t in p.items()} == {
        n: (*batch, *s) for n, s in zip(target.spec.names, target.spec.shapes)
    }
    assert mod.flat(torch.randn(*batch, latent)).shape == (*batch, target.spec.size)


def test_gradients_reach_the_latent_the_map_and_the_base() -> None:
    target = hf.stateless(hf.targets.siren(2, 1, hidden=(4, 4)))
    mod = Modulation(target, in_features=3)
    z = torch.zeros(2, 3, requires_grad=True)
    target.batched(mod(z), torch.rand(2, 5, 2)).pow(2).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0  # the map's weights are not zero at the start
    assert mod.map.weight.grad is not None and mod.base.grad is not None


@pytest.mark.parametrize(
    "module, message",
    [
        (nn.Sequential(nn.Linear(2, 3)), "at least one hidden layer"),
        (
            nn.Sequential(nn.Linear(2, 3, bias=False), nn.ReLU(), nn.Linear(3, 1)),
            "0.weight has no bias 0.bias",
        ),
        (
            nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2, 1)),
            "0.weight is [2, 1, 3, 3]",
        ),
    ],
)
def test_targets_that_are_not_mlps_are_refused(module: nn.Module, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Modulation(hf.stateless(module), in_features=2)


def test_registered() -> None:
    assert hf.hypernets.get("modulation") is Modulation
