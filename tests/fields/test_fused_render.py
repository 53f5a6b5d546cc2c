"""The fused grid renderer against hand-built modules and the chunked batched path."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import hyperfunc as hf
from hyperfunc._fast_mlp import mlp_plan
from hyperfunc.fields import grid, render
from hyperfunc.fields._fused_render import fold_layers, render_fused
from hyperfunc.targets import Sine


def _loop(
    module: nn.Module, params: dict[str, torch.Tensor], h: int, w: int, **kw: bool
) -> torch.Tensor:
    """Each weight set loaded into the module and evaluated on the grid: ``[B, C, h, w]``."""
    outs = []
    for i in range(next(iter(params.values())).shape[0]):
        module.load_state_dict({n: p[i] for n, p in params.items()})
        with torch.no_grad():
            outs.append(module(grid(h, w, **kw)).T.reshape(-1, h, w))
    return torch.stack(outs)


def _fused(target: hf.Target, params: dict[str, torch.Tensor], h: int, w: int, tile: int) -> torch.Tensor:
    layers = fold_layers(target.mlp_plan or (), params)
    assert layers is not None
    side = grid(h, w).view(h, w, 2)
    return render_fused(layers, side[:, 0, 0], side[0, :, 1], tile_bytes=tile)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(("b", "h", "w"), [(1, 1, 1), (3, 5, 7), (11, 33, 17)])
def test_default_render_of_a_siren_equals_hand_built_modules(
    b: int, h: int, w: int, align_corners: bool
) -> None:
    module = hf.targets.siren(2, 3, hidden=(16, 8), w0=30.0)
    target = hf.stateless(module)
    params = target.init_params((b,), generator=torch.Generator().manual_seed(b))
    out = render(target, params, h, w, align_corners=align_corners)
    assert out.shape == (b, 3, h, w) and out.is_contiguous()
    ref = _loop(module, params, h, w, align_corners=align_corners)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(
    b=st.integers(1, 20), h=st.integers(1, 24), w=st.integers(1, 24),
    tile=st.sampled_from([1, 200, 4000, 2**20]),
)
def test_any_tiling_gives_the_chunked_batched_result(b: int, h: int, w: int, tile: int) -> None:
    # many small tiles (several function groups, one row each) or one large one: same image
    target = hf.stateless(hf.targets.siren(2, 2, hidden=(6, 6), w0=20.0, w0_initial=10.0))
    params = target.init_params((b,), generator=torch.Generator().manual_seed(h * w))
    ref = render(target, params, h, w, chunk=7)  # the generic path: target.batched per chunk
    torch.testing.assert_close(_fused(target, params, h, w, tile), ref, rtol=1e-4, atol=1e-4)


def test_other_activations_bias_free_layers_and_output_activations() -> None:
    # ReLU first (no separable sines), a bias-free sine layer, a sigmoid output
    module = nn.Sequential(
        nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8, bias=False), Sine(3.0), nn.Linear(8, 2), nn.Sigmoid()
    )
    target = hf.stateless(module)
    params = target.init_params((5,), generator=torch.Generator().manual_seed(0))
    out = render(target, params, 9, 6)
    torch.testing.assert_close(out, _loop(module, params, 9, 6), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(_fused(target, params, 9, 6, tile=100), out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "module", [nn.Sequential(nn.Linear(2, 3), Sine(2.0)), nn.Sequential(nn.Linear(2, 1))]
)
def test_one_layer_networks(module: nn.Module) -> None:
    target = hf.stateless(module)
    params = target.init_params((3,))
    ref = _loop(module, params, 4, 6)
    torch.testing.assert_close(render(target, params, 4, 6), ref, rtol=1e-5, atol=1e-5)


def test_folding_leaves_the_weights_alone_and_refuses_other_shapes() -> None:
    target = hf.stateless(hf.targets.siren(2, 3, hidden=(4,)))
    params = target.init_params((2,))
    before = {n: p.clone() for n, p in params.items()}
    render(target, params, 8)
    assert all(torch.equal(params[n], before[n]) for n in params)
    for bad in (
        nn.Sequential(nn.ReLU(), nn.Linear(2, 3)),  # an activation before any layer
        nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Tanh(), nn.Linear(3, 1)),  # two in a row
    ):
        plan = mlp_plan(bad)
        assert plan is not None
        assert fold_layers(plan, {n: p.unsqueeze(0) for n, p in bad.named_parameters()}) is None
    # such targets still render, through the chunked path
    odd = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Tanh(), nn.Linear(3, 1))
    t = hf.stateless(odd)
    p = t.init_params((2,))
    torch.testing.assert_close(render(t, p, 4, 5), _loop(odd, p, 4, 5), rtol=1e-5, atol=1e-5)


def test_grad_renders_keep_the_graph() -> None:
    target = hf.stateless(hf.targets.siren(2, 1, hidden=(4,)))
    params = {n: p.requires_grad_() for n, p in target.init_params((2,)).items()}
    out = render(target, params, 5, grad=True)
    assert out.requires_grad
    out.sum().backward()
    assert all(p.grad is not None for p in params.values())
