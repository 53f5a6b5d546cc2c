"""chamfer_distance against a brute-force reference, its properties, and its errors."""

from __future__ import annotations

import itertools

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis.extra.numpy import arrays
from torch import Tensor

import hyperfunc_pointclouds._chamfer as chamfer_module
from hyperfunc_pointclouds import REDUCTIONS, chamfer_distance


def reference(a: np.ndarray, b: np.ndarray) -> float:
    """One pair of sets, with explicit loops over points (float64)."""

    def one_way(src: np.ndarray, dst: np.ndarray) -> float:
        total = 0.0
        for p in src:
            best = min(float(((p - q) ** 2).sum()) for q in dst)
            total += best
        return total / len(src)

    return one_way(a, b) + one_way(b, a)


def reference_batched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    batch = a.shape[:-2]
    out = np.zeros(batch)
    for idx in itertools.product(*(range(d) for d in batch)):
        out[idx] = reference(a[idx], b[idx])
    return out


def test_hand_computed_example() -> None:
    a = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    # a→b: (0 + 1) / 2 = 0.5;  b→a: (0 + 4 + 0) / 3
    torch.testing.assert_close(chamfer_distance(a, b), torch.tensor(0.5 + 4 / 3))


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_matches_brute_force(batch: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randn(*batch, 17, 3, generator=g, dtype=torch.float64)
    b = torch.randn(*batch, 9, 3, generator=g, dtype=torch.float64)
    want = reference_batched(a.numpy(), b.numpy())
    got = chamfer_distance(a, b, reduction="none")
    assert got.shape == batch and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(float(chamfer_distance(a, b)), want.mean(), rtol=1e-12)
    np.testing.assert_allclose(
        float(chamfer_distance(a, b, reduction="sum")), want.sum(), rtol=1e-12
    )


def test_blocked_computation_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(3, 50, 3, generator=g), torch.randn(3, 40, 3, generator=g)
    whole = chamfer_distance(a, b, reduction="none")
    monkeypatch.setattr(chamfer_module, "_BLOCK", 7)  # 1 row per block; merges column minima
    torch.testing.assert_close(chamfer_distance(a, b, reduction="none"), whole)
    monkeypatch.setattr(chamfer_module, "_BLOCK", 3 * 40 * 11)  # uneven last block
    torch.testing.assert_close(chamfer_distance(a, b, reduction="none"), whole)


def test_zero_for_identical_sets_exactly() -> None:
    a = torch.randn(4, 100, 3)
    assert torch.equal(chamfer_distance(a, a, reduction="none"), torch.zeros(4))
    # the same points in another order and with repeats
    b = torch.cat([a.flip(-2), a[:, :10]], dim=-2)
    assert torch.equal(chamfer_distance(a, b, reduction="none"), torch.zeros(4))


def test_gradients_match_autograd_of_the_dense_minimum() -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, 20, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 15, 3, generator=g, dtype=torch.float64, requires_grad=True)
    torch.autograd.backward(chamfer_distance(a, b))
    a2, b2 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    d = (a2[:, :, None] - b2[:, None]).pow(2).sum(-1)
    torch.autograd.backward((d.min(-1).values.mean(-1) + d.min(-2).values.mean(-1)).mean())
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad, a2.grad)
    torch.testing.assert_close(b.grad, b2.grad)


def test_inputs_are_not_modified() -> None:
    a, b = torch.randn(2, 10, 3), torch.randn(2, 12, 3)
    a0, b0 = a.clone(), b.clone()
    chamfer_distance(a, b)
    assert torch.equal(a, a0) and torch.equal(b, b0)


def test_empty_batch() -> None:
    a, b = torch.zeros(0, 5, 3), torch.zeros(0, 4, 3)
    assert chamfer_distance(a, b, reduction="none").shape == (0,)
    assert float(chamfer_distance(a, b, reduction="sum")) == 0.0
    with pytest.raises(ValueError, match="reduction='sum' or 'none'"):
        chamfer_distance(a, b)


# ------------------------------------------------------------------ properties
coords = st.floats(-10, 10, allow_nan=False, width=64)


@st.composite
def point_set_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    n, m = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    a = draw(arrays(np.float64, (*batch, n, 3), elements=coords))
    b = draw(arrays(np.float64, (*batch, m, 3), elements=coords))
    return a, b


@given(point_set_pairs())
def test_property_matches_reference_and_shapes(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    got = chamfer_distance(torch.from_numpy(a), torch.from_numpy(b), reduction="none")
    assert got.shape == a.shape[:-2]
    np.testing.assert_allclose(got.numpy(), reference_batched(a, b), rtol=1e-9, atol=1e-9)
    assert bool((got >= 0).all())


@given(point_set_pairs())
def test_property_symmetric(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = (torch.from_numpy(x) for x in pair)
    torch.testing.assert_close(
        chamfer_distance(a, b, reduction="none"), chamfer_distance(b, a, reduction="none")
    )


@given(point_set_pairs(), st.data())
def test_property_permutation_invariant(
    pair: tuple[np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    a, b = (torch.from_numpy(x) for x in pair)
    pa = torch.tensor(data.draw(st.permutations(range(a.shape[-2]))))
    pb = torch.tensor(data.draw(st.permutations(range(b.shape[-2]))))
    torch.testing.assert_close(
        chamfer_distance(a[..., pa, :], b[..., pb, :], reduction="none"),
        chamfer_distance(a, b, reduction="none"),
    )


@given(point_set_pairs())
def test_property_zero_against_itself(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a = torch.from_numpy(pair[0])
    assert bool((chamfer_distance(a, a.flip(-2), reduction="none") == 0).all())


# ---------------------------------------------------------------------- errors
def _message(a: object, b: object, **kw: str) -> str:
    with pytest.raises((ValueError, TypeError)) as info:
        chamfer_distance(a, b, **kw)  # type: ignore[arg-type]
    return str(info.value)


def test_error_empty_set() -> None:
    msg = _message(torch.zeros(2, 0, 3), torch.zeros(2, 4, 3))
    assert "a:" in msg and "empty" in msg and "N = 0" in msg and "at least one point" in msg


def test_error_nan_and_inf() -> None:
    a = torch.zeros(2, 5, 3)
    a[1, 3, 0] = float("nan")
    a[0, 4, 2] = float("inf")
    msg = _message(torch.zeros(2, 4, 3), a)
    assert "b:" in msg and "1 coordinate(s) are NaN and 1 infinite" in msg
    assert "[0, 4]" in msg and "isfinite" in msg


def test_error_wrong_last_dim_with_transpose_hint() -> None:
    msg = _message(torch.zeros(4, 3, 10), torch.zeros(4, 10, 3))
    assert "a: expected points of shape [..., N, 3]" in msg and "[4, 3, 10]" in msg
    assert "a.transpose(-1, -2)" in msg
    msg = _message(torch.zeros(10, 3), torch.zeros(3))
    assert "b: expected" in msg and "b.reshape(1, 3)" in msg


def test_error_mismatched_batch_dims() -> None:
    msg = _message(torch.zeros(4, 10, 3), torch.zeros(2, 10, 3))
    assert "same batch dimensions" in msg and "[4]" in msg and "[2]" in msg and "expand" in msg


def test_error_lists_every_problem_at_once() -> None:
    a = torch.full((2, 5, 3), float("nan"))
    msg = _message(a, torch.zeros(2, 5, 2), reduction="max")
    assert "a:" in msg and "b:" in msg and "reduction" in msg
    for r in REDUCTIONS:
        assert repr(r) in msg


def test_error_types_dtypes_devices() -> None:
    assert "torch.as_tensor(a" in _message([[0.0, 0.0, 0.0]], torch.zeros(1, 3))
    assert "b.float()" in _message(torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.long))
    assert "b.to(a.dtype)" in _message(torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.float64))


def test_single_points() -> None:
    out = chamfer_distance(torch.zeros(1, 3), torch.ones(1, 3))  # 3 one way, 3 the other
    assert isinstance(out, Tensor) and out.dim() == 0 and float(out) == 6.0
