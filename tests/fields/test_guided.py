"""Guided functions: bicubic sampling, the normalized-convolution fill, GuidedHyperNet against references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

import hyperfunc as hf
from hyperfunc.fields import (
    GuidedHyperNet,
    ImageBatch,
    grid,
    image_to_coords,
    normalized_convolution,
    render,
    sample_image,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def small(channels: int = 1, size: int = 8) -> GuidedHyperNet:
    torch.manual_seed(0)
    target = hf.stateless(hf.targets.siren(3 + channels, channels, hidden=(8, 8)).double())
    model = GuidedHyperNet(channels, size, target, embedding_dim=8, encoder_widths=(4,), hidden=(16,))
    torch.nn.init.normal_(model.hypernet.head.weight, std=0.1)  # image-dependent weights ...
    with torch.no_grad():
        model.hypernet.base.normal_(std=0.3)  # ... and a correction that is not zero
    return model.double()  # sines of w0 = 30 amplify float32 rounding; compare in float64


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.integers(1, 40), st.integers(1, 40), st.sampled_from(["bicubic", "bilinear"]))
def test_sample_image_on_a_grid_is_interpolate(side: int, h: int, w: int, mode: str) -> None:
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(side))
    got = sample_image(x, grid(h, w), mode=mode)
    want = F.interpolate(x, size=(h, w), mode=mode, align_corners=False).flatten(2).transpose(1, 2)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_sample_image_takes_per_image_coordinates() -> None:
    x = torch.rand(3, 2, 5, 5)
    coords = torch.rand(3, 7, 2) * 2 - 1
    looped = torch.cat([sample_image(x[i : i + 1], coords[i]) for i in range(3)])
    torch.testing.assert_close(sample_image(x, coords), looped)
    with pytest.raises(ValueError, match=r"coords must be \[P, 2\] or \[B=3, P, 2\]"):
        sample_image(x, coords[:2])


def test_normalized_convolution_is_the_weighted_mean_of_the_known_neighbours() -> None:
    x = torch.rand(1, 2, 9, 9, dtype=torch.float64)
    m = torch.ones(1, 1, 9, 9, dtype=torch.float64)
    m[0, 0, 2, 3] = m[0, 0, 6, 6] = m[0, 0, 6, 7] = 0  # missing pixels with known neighbours
    out = normalized_convolution(x, m, sigma=1.0)
    k = torch.exp(-torch.arange(-4, 5.0, dtype=torch.float64) ** 2 / 2)
    for i, j in ((2, 3), (6, 6), (6, 7)):
        num = den = torch.zeros((), dtype=torch.float64)
        for di in range(-4, 5):
            for dj in range(-4, 5):
                a, b = i + di, j + dj
                if 0 <= a < 9 and 0 <= b < 9 and m[0, 0, a, b]:
                    num = num + k[di + 4] * k[dj + 4] * x[0, :, a, b]
                    den = den + k[di + 4] * k[dj + 4]
        torch.testing.assert_close(out[0, :, i, j], num / den)
    torch.testing.assert_close(out * m, x * m)  # known pixels are kept


def test_normalized_convolution_fills_wide_holes_and_leaves_empty_images_at_zero() -> None:
    x = torch.full((2, 3, 16, 16), 0.7)
    m = torch.ones(2, 1, 16, 16)
    m[0, :, 2:14, 2:14] = 0  # wider than the kernel: filled ring by ring
    m[1] = 0  # nothing known
    out = normalized_convolution(x * m, m)
    torch.testing.assert_close(out[0], x[0])
    assert bool((out[1] == 0).all())
    with pytest.raises(ValueError, match="sigma must be positive"):
        normalized_convolution(x, m, sigma=0.0)


def reference_render(
    model: GuidedHyperNet, filled: torch.Tensor, mask: torch.Tensor, side: int
) -> torch.Tensor:
    """One image at a time: a conv encoder, the hypernetwork, and a plain SIREN module reading
    (y, x, estimate, mask) upsampled by F.interpolate, its output added to the estimate.

    Not clamped (the library clamps renders, and scores losses unclamped)."""
    c = filled.shape[1]
    module = hf.targets.siren(3 + c, c, hidden=(8, 8)).to(filled.dtype)
    coords = grid(side, side, dtype=filled.dtype)
    out = []
    for i in range(len(filled)):
        guide = torch.cat([filled[i : i + 1], mask[i : i + 1]], dim=1)
        params = {n: p[0] for n, p in model.hypernet(model.encoder(guide)).items()}
        g = F.interpolate(guide, size=side, mode="bicubic", align_corners=False).clamp(0, 1)
        g = g.flatten(2).transpose(1, 2)[0]
        y = g[:, :c] + functional_call(module, params, (torch.cat([coords, g], dim=-1),))
        out.append(y.T.reshape(c, side, side))
    return torch.stack(out)


@pytest.mark.parametrize("channels", [1, 3])
def test_untrained_model_renders_bicubic_and_the_classical_fill(channels: int) -> None:
    model = GuidedHyperNet(channels, 8, embedding_dim=8, encoder_widths=(4,), hidden=(16,))
    x = torch.rand(3, channels, 8, 8)
    bicubic = F.interpolate(x, size=21, mode="bicubic", align_corners=False).clamp(0, 1)
    torch.testing.assert_close(model.reconstruct(x, size=21), bicubic, atol=1e-5, rtol=0)
    m = (torch.rand(3, 1, 8, 8) < 0.5).float()
    torch.testing.assert_close(model.reconstruct(x, mask=m), normalized_convolution(x, m), atol=1e-5, rtol=0)


def test_generated_functions_match_a_hand_built_module_per_image() -> None:
    model = small(channels=1, size=8)
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        want = reference_render(model, x, torch.ones_like(x), 21).clamp(0, 1)
    got = model.reconstruct(x, size=21)
    assert float((got - F.interpolate(x, size=21, mode="bicubic").clamp(0, 1)).abs().max()) > 1e-2
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    m = torch.ones(3, 1, 8, 8, dtype=torch.float64)
    m[:, :, 2:6, 2:6] = 0
    with torch.no_grad():
        want = reference_render(model, normalized_convolution(x, m), m, 8).clamp(0, 1)
    torch.testing.assert_close(model.reconstruct(x, mask=m), want, atol=1e-5, rtol=0)
    # chunked rendering of the same guided functions agrees with the default
    torch.testing.assert_close(model.reconstruct(x, size=21, chunk=50), model.reconstruct(x, size=21))


def test_paired_loss_is_the_error_of_the_rendered_functions_and_training_lowers_it() -> None:
    model = small(channels=1, size=8)
    x, high = torch.rand(4, 1, 8, 8, dtype=torch.float64), torch.rand(4, 1, 20, 20, dtype=torch.float64)
    loss, logs = model.loss(ImageBatch(x, targets=high))
    with torch.no_grad():
        ref = reference_render(model, x, torch.ones_like(x), 20)
        want = F.mse_loss(ref, high, reduction="none").flatten(1).mean(1)
    torch.testing.assert_close(loss.detach(), want.mean(), atol=1e-6, rtol=1e-5)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(loss.detach())
    for _ in range(40):
        opt.zero_grad()
        loss, _ = model.loss(ImageBatch(x, targets=high))
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.8 * first
    assert logs["mse"] == pytest.approx(first)


def test_refinement_of_a_guided_function_fits_the_known_pixels() -> None:
    model = small(channels=1, size=8)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    coords, values = image_to_coords(x)
    before = model.reconstruct(x)
    after = model.reconstruct(x, refine_steps=20, refine_lr=1e-2)
    assert float(F.mse_loss(after, x)) <= float(F.mse_loss(before, x))
    assert coords.shape == (64, 2) and values.shape == (2, 64, 1)


def test_a_target_without_the_guide_inputs_is_a_clear_error() -> None:
    target = hf.stateless(hf.targets.siren(2, 3, hidden=(8,)))
    with pytest.raises(ValueError, match=r"must take 6 inputs .* in_features=6"):
        GuidedHyperNet(3, 8, target, embedding_dim=8, encoder_widths=(4,), hidden=(16,))
    with pytest.raises(ValueError, match="sigma must be positive, got nan"):
        GuidedHyperNet(3, 8, embedding_dim=8, encoder_widths=(4,), hidden=(16,), sigma=float("nan"))


def test_render_checks_the_guide_batch() -> None:
    model = small(channels=1, size=8)
    params = model.weights(torch.rand(2, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"guide must be \[B=2, C \+ 1, h, w\]"):
        render(model.target, params, 8, guide=torch.rand(3, 2, 8, 8, dtype=torch.float64))


def test_cli_builds_the_guided_target_with_the_guide_inputs(tmp_path: Path) -> None:
    from hyperfunc._cli import main

    out = tmp_path / "run"
    args = ["run", "--method", "guided-hypernet", "--tasks", "mnist-images", "--data", str(DATA),
            "--steps", "3", "--method-arg", "embedding_dim=8", "--target-arg", "hidden=[8]",
            "--task-arg", "test_images=4",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["identity"]["method_name"] == "guided-hypernet" and results["steps_done"] == 3
    assert "(8, 4)" in results["identity"]["spec"]  # the first layer reads y, x, the grey estimate, the mask
