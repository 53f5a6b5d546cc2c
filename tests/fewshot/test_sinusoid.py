"""Sinusoid regression: ranges, the exact function, shapes, seeding, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import hyperfunc as hf
from hyperfunc.fewshot import Sinusoid, SinusoidBatch


def test_ranges_cover_maml_intervals() -> None:
    b = Sinusoid(k_shot=10, q_query=10, batch_size=4000, seed=0).batch(0)
    amp, phase, x = b.amplitude, b.phase, torch.cat([b.x_support, b.x_query], 1)
    assert 0.1 <= float(amp.min()) < 0.2 and 4.9 < float(amp.max()) <= 5.0
    assert 0.0 <= float(phase.min()) < 0.01 and math.pi - 0.01 < float(phase.max()) <= math.pi
    assert -5.0 <= float(x.min()) < -4.99 and 4.99 < float(x.max()) <= 5.0
    # uniform: each tenth of the interval holds about a tenth of the draws
    hist = torch.histc(amp, bins=10, min=0.1, max=5.0)
    assert bool(((hist / 4000 - 0.1).abs() < 0.03).all())
    assert abs(float(x.mean())) < 0.05 and abs(float(phase.mean()) - math.pi / 2) < 0.05


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_targets_are_exactly_a_sin_x_minus_phase(dtype: torch.dtype) -> None:
    b = Sinusoid(k_shot=5, q_query=7, batch_size=50, seed=2, dtype=dtype).batch(3)
    a, phi = b.amplitude[:, None, None], b.phase[:, None, None]
    assert torch.equal(b.y_support, a * torch.sin(b.x_support - phi))
    assert torch.equal(b.y_query, a * torch.sin(b.x_query - phi))
    assert all(t.dtype == dtype for t in (b.x_support, b.y_query, b.amplitude, b.phase))
    # and against an independent float64 reference
    ref = b.amplitude.double().numpy()[:, None, None] * np.sin(
        b.x_query.double().numpy() - b.phase.double().numpy()[:, None, None]
    )
    atol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(b.y_query.double().numpy(), ref, atol=atol)


def test_seeded_and_global_state_untouched() -> None:
    torch.manual_seed(1)
    state = torch.get_rng_state()
    a, b = Sinusoid(seed=4), Sinusoid(seed=4)
    assert torch.equal(a.batch(2).x_query, b.batch(2).x_query)
    assert torch.equal(a.batch(2).amplitude, b.batch(2).amplitude)
    assert not torch.equal(a.batch(2).x_query, Sinusoid(seed=5).batch(2).x_query)
    assert not torch.equal(a.batch(0).phase, a.batch(1).phase)
    first = next(iter(a))
    assert torch.equal(first.y_support, a.batch(0).y_support)
    assert [t.num_tasks for t in itertools.islice(a, 3)] == [25, 25, 25]
    assert torch.equal(torch.get_rng_state(), state)


def test_custom_intervals_and_to() -> None:
    tasks = Sinusoid(2, 3, 100, amplitude=(1.0, 1.0), phase=(0.0, 0.0), x_range=(0.0, 1.0))
    b = tasks.batch(0).to("cpu")
    assert bool((b.amplitude == 1).all()) and bool((b.phase == 0).all())
    assert 0.0 <= float(b.x_support.min()) and float(b.x_query.max()) <= 1.0
    assert "2-shot 3-query" in repr(tasks)


def test_registered_sinusoid() -> None:
    tasks = hf.tasks.get("sinusoid")(k_shot=5, q_query=15, batch_size=3, seed=1)
    assert isinstance(tasks, Sinusoid) and isinstance(tasks.batch(0), SinusoidBatch)
    assert tasks.batch(0).x_query.shape == (3, 15, 1)


@given(k=st.integers(1, 20), q=st.integers(1, 20), b=st.integers(1, 30), seed=st.integers(0, 2**40))
def test_shapes_for_any_sizes(k: int, q: int, b: int, seed: int) -> None:
    batch = Sinusoid(k, q, b, seed).batch(seed % 5)
    assert batch.x_support.shape == batch.y_support.shape == (b, k, 1)
    assert batch.x_query.shape == batch.y_query.shape == (b, q, 1)
    assert batch.amplitude.shape == batch.phase.shape == (b,) and batch.num_tasks == b


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"got k_shot=0, q_query=-1"):
        Sinusoid(0, -1)
    with pytest.raises(TypeError, match=r"batch_size=2.0 \(float\)"):
        Sinusoid(batch_size=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"amplitude must be a finite interval with low <= high, got \(5"):
        Sinusoid(amplitude=(5.0, 0.1))
    with pytest.raises(ValueError, match="x_range must be a pair"):
        Sinusoid(x_range=(1.0,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype must be a floating torch.dtype"):
        Sinusoid(dtype=torch.int64)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        Sinusoid(seed=-3)
    with pytest.raises(ValueError, match="the batch index must be a non-negative int"):
        Sinusoid().batch(-1)
