"""Rendering generated functions, per-image fitting (batched vs looped), the Fourier-feature target."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import hyperfunc as hf
from hyperfunc.fields import fit, grid, image_to_coords, render


def _siren(out: int = 3) -> hf.Target:
    return hf.stateless(hf.targets.siren(2, out, hidden=(12, 12), w0=30.0))


def _module_with(params: dict[str, torch.Tensor], i: int, out: int = 3) -> nn.Module:
    """A hand-built SIREN loaded with weight set ``i``."""
    net = hf.targets.siren(2, out, hidden=(12, 12), w0=30.0)
    net.load_state_dict({n: p[i] for n, p in params.items()})
    return net


def test_render_equals_hand_built_modules_at_any_resolution() -> None:
    target = _siren()
    params = target.init_params((3,))
    for h, w in [(5, 7), (28, 28)]:
        out = render(target, params, h, w)
        assert out.shape == (3, 3, h, w)
        for i in range(3):
            ref = _module_with(params, i)(grid(h, w)).T.reshape(3, h, w)
            torch.testing.assert_close(out[i], ref, rtol=1e-5, atol=1e-5)


def test_render_chunks_give_the_same_image_and_memory_is_checked() -> None:
    target = _siren()
    params = target.init_params((2,))
    whole = render(target, params, 20)
    torch.testing.assert_close(render(target, params, 20, chunk=7), whole, rtol=1e-5, atol=1e-5)
    # a small budget forces small chunks automatically; the result does not change
    per = hf.fields.bytes_per_point(target, 2)
    torch.testing.assert_close(render(target, params, 20, memory_limit=per * 10), whole, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"use chunk <= 10 \(or chunk=None"):
        render(target, params, 20, chunk=400, memory_limit=per * 10)
    with pytest.raises(ValueError, match="raise memory_limit or render fewer functions"):
        render(target, params, 20, memory_limit=per - 1)
    assert not render(target, {n: p.requires_grad_() for n, p in params.items()}, 4).requires_grad


def test_batched_fit_equals_a_loop_of_single_image_fits() -> None:
    target = _siren()
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 6, 6, generator=g)
    start = target.init_params((3,), generator=g)
    before = {n: p.clone() for n, p in start.items()}
    coords, values = image_to_coords(images)
    res = fit(target, start, coords, values, steps=6, lr=1e-3, record_at=(0, 6), show_progress=False)
    assert all(torch.equal(start[n], before[n]) for n in start)  # the input weights are not touched
    for i in range(3):
        net = _module_with(start, i)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(6):
            opt.zero_grad()
            loss = (net(coords) - values[i]).pow(2).mean()
            loss.backward()
            opt.step()
        for n, p in net.named_parameters():
            torch.testing.assert_close(res.params[n][i], p.detach(), rtol=1e-4, atol=1e-5)
        final = (net(coords) - values[i]).pow(2).mean().item()
        assert res.psnr[6][i].item() == pytest.approx(-10 * math.log10(final), abs=1e-3)
    assert (res.psnr[6] > res.psnr[0]).all() and res.seconds > 0


def test_fit_learns_an_image() -> None:
    target = _siren(1)
    img = torch.zeros(1, 1, 16, 16)
    img[..., 4:12, 4:12] = 1.0
    coords, values = image_to_coords(img)
    res = fit(target, target.init_params((1,)), coords, values, steps=300, lr=1e-3, record_at=(0, 300),
              show_progress=False)
    assert res.psnr[300].item() > res.psnr[0].item() + 10


def test_masked_fit_ignores_unknown_pixels() -> None:
    target = _siren()
    images = torch.rand(2, 3, 5, 5)
    other = images.clone()
    mask = torch.ones(2, 25)
    mask[:, 10:15] = 0
    other.reshape(2, 3, 25)[:, :, 10:15] = 0.0  # change only the unknown pixels
    start = target.init_params((2,))
    a = fit(target, start, *image_to_coords(images), steps=3, mask=mask, show_progress=False)
    b = fit(target, start, *image_to_coords(other), steps=3, mask=mask, show_progress=False)
    assert all(torch.equal(a.params[n], b.params[n]) for n in start)


def test_fit_errors_change_nothing() -> None:
    target = _siren()
    coords, values = image_to_coords(torch.rand(2, 3, 4, 4))
    start = target.init_params((2,))
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        fit(target, start, coords, values, steps=-1)
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd'"):
        fit(target, start, coords, values, steps=1, optimizer="rmsprop")
    with pytest.raises(ValueError, match=r"record_at has steps \[5\] outside \[0, steps=2\]"):
        fit(target, start, coords, values, steps=2, record_at=(5,))
    with pytest.raises(ValueError, match="must lie in"):
        fit(target, start, coords * 3, values, steps=1)
    with pytest.raises(ValueError, match=r"output \[2, 16, 3\] does not match values \[2, 16, 1\]"):
        fit(target, start, coords, values[..., :1], steps=1)
    with pytest.raises(ValueError, match="no known pixel"):
        fit(target, start, coords, values, steps=1, mask=torch.zeros(2, 16))


def test_fourier_mlp_is_features_then_mlp() -> None:
    net = hf.targets.fourier_mlp(2, 3, hidden=(16,), num_frequencies=8, scale=3.0, seed=4)
    again = hf.targets.fourier_mlp(2, 3, hidden=(16,), num_frequencies=8, scale=3.0, seed=4)
    assert torch.equal(net[0].B, again[0].B)
    assert [n for n, _ in net.named_parameters()] == ["1.0.weight", "1.0.bias", "1.2.weight", "1.2.bias"]
    x = torch.rand(10, 2) * 2 - 1
    proj = 2 * math.pi * x @ net[0].B.T
    torch.testing.assert_close(net(x), net[1](torch.cat([proj.cos(), proj.sin()], -1)))
    # as a target: batched over weight sets equals the module loaded with each set
    target = hf.stateless(net)
    params = target.init_params((3,))
    out = target.batched(params, x, shared=True)
    for i in range(3):
        again.load_state_dict({**{n: p[i] for n, p in params.items()}, "0.B": net[0].B})
        torch.testing.assert_close(out[i], again(x))
    assert hf.targets.get("fourier-mlp") is hf.targets.fourier_mlp
    with pytest.raises(ValueError, match="scale must be positive"):
        hf.targets.fourier_mlp(scale=0.0)


def test_siren_init_params_follow_its_own_initialisation() -> None:
    # siren's layers declare their exact distributions: a 2-input first layer is U(±1/2), not
    # PyTorch's U(±1/sqrt(2)) (a small tensor's measured variance would be too noisy to use)
    net = hf.targets.siren(2, 3, hidden=(18, 18), w0=30.0)
    target = hf.stateless(net)
    assert target.init_stats.var["0.weight"] == pytest.approx(0.25 / 3)
    assert target.init_stats.var["2.weight"] == pytest.approx(6 / 18 / 900 / 3)
    assert target.init_stats.var["4.bias"] == pytest.approx(1 / 18 / 3)
    sample = target.init_params((2000,), generator=torch.Generator().manual_seed(0))
    assert sample["0.weight"].abs().max() <= 0.5 and sample["0.weight"].abs().max() > 0.49
    bound = math.sqrt(6 / 18) / 30
    assert sample["2.weight"].abs().max() <= bound * (1 + 1e-6)
