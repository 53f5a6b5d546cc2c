"""The shapes task: reproducibility, points on the stated surfaces, area-uniformity, errors."""

from __future__ import annotations

import math

import attrs
import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import Tensor

from hyperfunc_pointclouds import SHAPES, ShapeClouds, shapes


def surface_residual(kind: str, local: Tensor, dims: Tensor) -> Tensor:
    """Distance-like residual of each point from the kind's surface (0 on it), float64."""
    p, d = local.double(), dims.double()
    x, y, z = p.unbind(-1)
    rho = torch.hypot(x, y)
    if kind == "sphere":
        sphere: Tensor = (p.norm(dim=-1) - d[0]).abs()
        return sphere
    if kind == "torus":
        return (torch.hypot(rho - d[0], z) - d[1]).abs()
    if kind == "box":
        scaled = (p.abs() / d).amax(-1)
        return (scaled - 1).abs()
    r, h = d[0], d[1]
    if kind == "cylinder":
        side = (rho - r).abs() + (z.abs() - h).clamp_min(0)
        caps = (z.abs() - h).abs() + (rho - r).clamp_min(0)
        return torch.minimum(side, caps)
    if kind == "cone":
        side = (rho - r * (h - z) / (2 * h)).abs() + (z.abs() - h).clamp_min(0)
        base = (z + h).abs() + (rho - r).clamp_min(0)
        return torch.minimum(side, base)
    raise AssertionError(kind)


def test_defaults_and_labels() -> None:
    data = shapes(num_clouds=7, num_points=50)
    assert isinstance(data, ShapeClouds) and len(data) == 7 and data.num_points == 50
    assert data.points.shape == (7, 50, 3) and data.points.dtype == torch.float32
    assert data.labels.tolist() == [0, 1, 2, 3, 4, 0, 1] and data.labels.dtype == torch.int64
    assert data.kinds == SHAPES == ("sphere", "torus", "box", "cylinder", "cone")
    assert data.dims.shape == (7, 3) and data.rotations.shape == (7, 3, 3)


def test_reproducible_and_independent_of_num_clouds() -> None:
    state = torch.random.get_rng_state()
    a, b = shapes(6, 40, seed=3), shapes(6, 40, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    for field in ("points", "labels", "dims", "rotations"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(shapes(6, 40, seed=4).points, a.points)
    assert torch.equal(shapes(3, 40, seed=3).points, a.points[:3])


def test_points_lie_on_the_stated_surfaces() -> None:
    data = shapes(num_clouds=15, num_points=400, seed=1, dtype=torch.float64)
    local = data.local_points()
    for i in range(len(data)):
        kind = data.kinds[int(data.labels[i])]
        res = surface_residual(kind, local[i], data.dims[i])
        assert float(res.max()) < 1e-9, kind


def test_rotations_are_proper_and_random() -> None:
    data = shapes(num_clouds=10, num_points=10, seed=2, dtype=torch.float64)
    r = data.rotations
    eye = torch.eye(3, dtype=torch.float64).expand(10, 3, 3)
    torch.testing.assert_close(r @ r.transpose(-1, -2), eye)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(10, dtype=torch.float64))
    assert not torch.allclose(r[0], r[1])
    flat = shapes(num_clouds=3, num_points=10, rotate=False)
    assert torch.equal(flat.rotations, torch.eye(3).expand(3, 3, 3))
    assert torch.equal(flat.points, flat.local_points())


def test_sizes_follow_the_documented_ranges() -> None:
    data = shapes(num_clouds=50, num_points=4, seed=0, scale=(0.5, 1.0))
    d = data.dims
    by = {k: d[data.labels == i] for i, k in enumerate(data.kinds)}
    assert bool(((by["sphere"][:, 0] >= 0.5) & (by["sphere"][:, 0] <= 1.0)).all())
    big, small = by["torus"][:, 0], by["torus"][:, 1]
    assert bool(((small >= 0.2 * big - 1e-6) & (small <= 0.5 * big + 1e-6)).all())
    assert bool(((by["box"] >= 0.3 * 0.5 - 1e-6) & (by["box"] <= 0.6 + 1e-6)).all())
    assert float(data.points.norm(dim=-1).max()) < 1.1


def _within(frac: float, p: float, n: int) -> bool:
    return abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_points_are_uniform_with_respect_to_area() -> None:
    n = 20_000
    data = shapes(num_clouds=5, num_points=n, seed=7, rotate=False, dtype=torch.float64)
    pts, dims = data.points, data.dims
    # sphere: each octant holds 1/8 of the points
    assert _within(float(((pts[0] > 0).all(-1)).double().mean()), 1 / 8, n)
    # torus: the outer half of the tube (ρ > R) has area (πR + 2r) / (2πR) of the whole
    big, small = float(dims[1, 0]), float(dims[1, 1])
    outer = torch.hypot(pts[1, :, 0], pts[1, :, 1]) > big
    outer_area = (math.pi * big + 2 * small) / (2 * math.pi * big)
    assert _within(float(outer.double().mean()), outer_area, n)
    # box: the two faces x = ±a hold b·c / (ab + bc + ca) of the points
    a, b, c = dims[2].tolist()
    on_x = (pts[2, :, 0].abs() - a).abs() < 1e-12
    assert _within(float(on_x.double().mean()), b * c / (a * b + b * c + c * a), n)
    # cylinder: caps hold r / (r + 2h); cone: base holds r / (r + slant)
    r, h = dims[3, :2].tolist()
    caps = (pts[3, :, 2].abs() - h).abs() < 1e-12
    assert _within(float(caps.double().mean()), r / (r + 2 * h), n)
    r, h = dims[4, :2].tolist()
    base = (pts[4, :, 2] + h).abs() < 1e-12
    assert _within(float(base.double().mean()), r / (r + math.hypot(r, 2 * h)), n)


@given(
    st.integers(0, 2**32),
    st.lists(st.sampled_from(SHAPES), min_size=1, max_size=5, unique=True),
    st.integers(1, 64),
)
def test_property_any_seed_and_kinds(seed: int, kinds: list[str], n: int) -> None:
    data = shapes(num_clouds=len(kinds), num_points=n, kinds=kinds, seed=seed)
    assert data.points.shape == (len(kinds), n, 3) and data.kinds == tuple(kinds)
    assert bool(torch.isfinite(data.points).all())
    local = data.local_points()
    for i, kind in enumerate(kinds):
        assert float(surface_residual(kind, local[i], data.dims[i]).max()) < 1e-5, kind


def test_shape_clouds_is_frozen_validated_and_movable() -> None:
    data = shapes(3, 10)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        data.points = torch.zeros(3, 10, 3)  # type: ignore[misc]
    moved = data.to("cpu")
    assert torch.equal(moved.points, data.points) and moved.kinds == data.kinds
    with pytest.raises(ValueError, match=r"labels must have shape \[3\], got \[2\]"):
        attrs.evolve(data, labels=data.labels[:2])
    with pytest.raises(ValueError, match=r"labels must index kinds \(0\.\.0\)"):
        attrs.evolve(data, kinds=("sphere",))
    with pytest.raises(ValueError, match=r"points must be a floating tensor \[K, N, 3\]"):
        attrs.evolve(data, points=torch.zeros(3, 10, 2))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_clouds=0"):
        shapes(0)
    with pytest.raises(ValueError, match="num_points=-1"):
        shapes(2, -1)
    with pytest.raises(ValueError, match=r"unknown: 'pyramid'"):
        shapes(2, kinds=("sphere", "pyramid"))
    with pytest.raises(ValueError, match=r"repeated: 'box'"):
        shapes(2, kinds=("box", "box"))
    with pytest.raises(ValueError, match=r"kinds must be a sequence of names, e.g. \('torus',\)"):
        shapes(2, kinds="torus")
    with pytest.raises(ValueError, match="scale must be an interval"):
        shapes(2, scale=(1.0, 0.5))
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        shapes(2, seed=-1)
    with pytest.raises(ValueError, match=r"floating torch\.dtype"):
        shapes(2, dtype=torch.int32)
