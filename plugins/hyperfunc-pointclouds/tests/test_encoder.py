"""PointNetEncoder: shapes, permutation invariance, a hand-written reference, errors."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import nn

from hyperfunc_pointclouds import PointNetEncoder


def test_shapes_with_any_batch_dims() -> None:
    enc = PointNetEncoder(dim=16, widths=(8, 12))
    assert enc(torch.randn(50, 3)).shape == (16,)
    assert enc(torch.randn(4, 50, 3)).shape == (4, 16)
    assert enc(torch.randn(2, 3, 7, 3)).shape == (2, 3, 16)
    assert PointNetEncoder(5, (4,), in_features=6)(torch.randn(2, 9, 6)).shape == (2, 5)


def test_matches_hand_written_pointnet() -> None:
    enc = PointNetEncoder(dim=6, widths=(8, 12))
    linears = [m for m in enc.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 8), (8, 12), (12, 6)]
    x = torch.randn(3, 20, 3)
    h = torch.relu(x @ linears[0].weight.T + linears[0].bias)
    h = torch.relu(h @ linears[1].weight.T + linears[1].bias)
    pooled = h.max(dim=1).values
    torch.testing.assert_close(enc(x), pooled @ linears[2].weight.T + linears[2].bias)


@given(st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_property_permutation_invariant(n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    enc = PointNetEncoder(dim=8, widths=(16, 16))
    x = torch.randn(2, n, 3, generator=g)
    perm = torch.randperm(n, generator=g)
    torch.testing.assert_close(enc(x[:, perm]), enc(x))
    # duplicating points does not change a maximum either
    torch.testing.assert_close(enc(torch.cat([x, x[:, :1]], dim=1)), enc(x))


def test_sets_are_encoded_independently_and_differently() -> None:
    enc = PointNetEncoder(dim=8)
    x = torch.randn(3, 40, 3)
    torch.testing.assert_close(enc(x)[1], enc(x[1]))
    assert not torch.allclose(enc(x)[0], enc(x)[1])


def test_gradients_reach_every_parameter() -> None:
    enc = PointNetEncoder(dim=4, widths=(8,))
    torch.autograd.backward(enc(torch.randn(2, 30, 3)).square().sum())
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in enc.parameters())


def test_bad_inputs_raise_and_change_nothing() -> None:
    enc = PointNetEncoder(dim=4, widths=(8,))
    state = {k: v.clone() for k, v in enc.state_dict().items()}
    with pytest.raises(ValueError, match=r"\[\.\.\., N, 3\] with N >= 1, got \[2, 30, 2\]"):
        enc(torch.randn(2, 30, 2))
    with pytest.raises(ValueError, match=r"got \[2, 0, 3\]"):
        enc(torch.randn(2, 0, 3))
    with pytest.raises(TypeError, match=r"points\.float\(\)"):
        enc(torch.zeros(2, 5, 3, dtype=torch.long))
    assert all(torch.equal(v, state[k]) for k, v in enc.state_dict().items())
    assert all(p.grad is None for p in enc.parameters())


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="dim=0"):
        PointNetEncoder(dim=0)
    with pytest.raises(ValueError, match="non-empty"):
        PointNetEncoder(dim=4, widths=())
    with pytest.raises(ValueError, match=r"widths\[1\]=-2"):
        PointNetEncoder(dim=4, widths=(8, -2))
    with pytest.raises(ValueError, match="in_features=True"):
        PointNetEncoder(dim=4, in_features=True)
