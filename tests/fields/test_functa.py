"""Functa (COIN++): latents against a per-image reference loop, meta-gradients, masks, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import hyperfunc as hf
from hyperfunc.fields import Functa, ImageBatch, image_to_coords

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def small(dtype: torch.dtype = torch.float32, **kwargs: object) -> Functa:
    target = hf.stateless(hf.targets.siren(2, 3, hidden=(16, 16)).to(dtype))
    return Functa(3, 6, target, latent_dim=8, inner_lr=0.05, **kwargs).to(dtype)  # type: ignore[arg-type]


def reference_latent(model: Functa, image: torch.Tensor, steps: int) -> torch.Tensor:
    """One image, a plain autograd loop through the SIREN module (functional_call), SGD with the rates."""
    module = hf.targets.siren(2, 3, hidden=(16, 16)).to(image.dtype)
    coords, values = image_to_coords(image[None])
    z = torch.zeros(model.latent_dim, dtype=image.dtype, requires_grad=True)
    for _ in range(steps):
        params = model.modulation(z)
        loss = F.mse_loss(functional_call(module, params, (coords,)), values[0])
        (g,) = torch.autograd.grad(loss, z, create_graph=True)
        z = z - model.rates * g
    return z


def test_batched_latents_match_a_per_image_reference_loop() -> None:
    model = small(torch.float64, inner_steps=3)
    images = torch.rand(4, 3, 6, 6, dtype=torch.float64)
    got = model.latents(images)
    for i in range(4):
        torch.testing.assert_close(got[i], reference_latent(model, images[i], 3))
    # meta-gradients too: of the summed outer losses, with respect to the rates and the map
    outer = sum(
        F.mse_loss(
            functional_call(
                hf.targets.siren(2, 3, hidden=(16, 16)).double(),
                model.modulation(reference_latent(model, images[i], 3)),
                (image_to_coords(images[i][None])[0],),
            ),
            image_to_coords(images[i][None])[1][0],
        )
        for i in range(4)
    )
    want = torch.autograd.grad(outer, [model.rates, model.modulation.map.weight])
    per_image = model.loss(ImageBatch(images))[0] * 4  # the loss is the batch mean
    got_grads = torch.autograd.grad(per_image, [model.rates, model.modulation.map.weight])
    for g, w in zip(got_grads, want):
        torch.testing.assert_close(g, w)


def test_second_order_meta_gradient_matches_finite_differences() -> None:
    model = small(torch.float64, inner_steps=2)
    images = torch.rand(2, 3, 6, 6, dtype=torch.float64)

    def loss_of(rates: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            model.rates.copy_(rates)
        return model.loss(ImageBatch(images))[0]

    rates = model.rates.detach().clone()
    (grad,) = torch.autograd.grad(model.loss(ImageBatch(images))[0], model.rates)
    eps = 1e-6
    for k in (0, 5):
        step = torch.zeros_like(rates)
        step[k] = eps
        numeric = (loss_of(rates + step) - loss_of(rates - step)) / (2 * eps)
        torch.testing.assert_close(grad[k], numeric.detach(), rtol=1e-5, atol=1e-9)


def test_first_order_differs_but_still_trains_the_rates() -> None:
    images = torch.rand(3, 3, 6, 6, dtype=torch.float64)
    torch.manual_seed(0)
    second = small(torch.float64, inner_steps=3)
    torch.manual_seed(0)
    first = small(torch.float64, inner_steps=3, first_order=True)
    g2 = torch.autograd.grad(second.loss(ImageBatch(images))[0], second.rates)[0]
    g1 = torch.autograd.grad(first.loss(ImageBatch(images))[0], first.rates)[0]
    assert g1.abs().sum() > 0 and not torch.allclose(g1, g2)


def test_more_steps_fit_better_and_evaluation_keeps_no_graph() -> None:
    model = small(inner_steps=3)
    images = torch.rand(5, 3, 6, 6)
    coords, values = image_to_coords(images)
    errors = []
    for steps in (0, 3, 10):
        with torch.no_grad():
            z = model.latents(images, steps=steps)
            pred = model.target.batched(model.modulation(z), coords, shared=True)
        assert not z.requires_grad
        errors.append(float((pred - values).pow(2).mean()))
    assert errors[0] > errors[1] > errors[2]


def test_masked_pixels_do_not_change_the_fit() -> None:
    model = small(inner_steps=2)
    images = torch.rand(2, 3, 6, 6)
    mask = (torch.rand(2, 6, 6) > 0.5).float()
    other = images.clone()
    other[mask[:, None].expand_as(other) == 0] = torch.rand(int((mask == 0).sum()) * 3)
    with torch.no_grad():
        a, b = model.latents(images, mask=mask), model.latents(other, mask=mask)
        unmasked = model.latents(other)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, unmasked)
    # inpainting through FieldMethod uses the masked fit
    out = model.reconstruct(images, mask=mask)
    assert out.shape == (2, 3, 6, 6)


def test_bad_settings_are_named_together() -> None:
    with pytest.raises(
        ValueError, match="latent_dim must be an int >= 1, got 0; inner_steps must be an int >= 0"
    ):
        Functa(3, 8, latent_dim=0, inner_steps=-1)


def test_cli_trains_and_evaluates_functa(tmp_path: Path) -> None:
    from hyperfunc._cli import main

    out = tmp_path / "run"
    args = ["run", "--method", "functa", "--tasks", "mnist-images", "--data", str(DATA), "--steps", "3",
            "--method-arg", "latent_dim=8", "--target-arg", "hidden=[16,16]", "--task-arg", "test_images=4",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["identity"]["method_name"] == "functa" and results["steps_done"] == 3
    assert (out / "curves.png").is_file()


def test_functa_classifier_example_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "docs" / "examples" / "functa_classifier.py"
    args = ["--data", str(DATA), "--out", str(tmp_path / "run"), "--minutes", "0.01", "--train", "48",
            "--test", "24", "--epochs", "2", "--latent", "16"]  # fmt: skip
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test accuracy from latents (16 numbers)" in done.stdout
    saved = torch.load(tmp_path / "run" / "modulations.pt", weights_only=True)
    assert saved["train"].shape == (48, 16) and saved["test_labels"].shape == (24,)


def test_functa_classifier_example_starts_from_a_saved_model(tmp_path: Path) -> None:
    """``--model`` with ``--minutes 0``: the saved latents are the loaded model's, no meta-training."""
    import subprocess
    import sys

    torch.manual_seed(3)
    model = Functa(3, 32, hf.stateless(hf.targets.siren(2, 3, hidden=(128,) * 5)), latent_dim=16)
    with torch.no_grad():
        model.rates.mul_(3.0)  # not the initial state
    torch.save(model.state_dict(), tmp_path / "functa.pt")
    script = Path(__file__).resolve().parents[2] / "docs" / "examples" / "functa_classifier.py"
    args = ["--data", str(DATA), "--out", str(tmp_path / "run"), "--minutes", "0", "--train", "8", "--test",
            "4", "--epochs", "1", "--latent", "16", "--model", str(tmp_path / "functa.pt")]  # fmt: skip
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = torch.load(tmp_path / "run" / "modulations.pt", weights_only=True)
    x_test = torch.from_numpy(hf.datasets.load_cifar10(DATA).x_test[:4])
    torch.testing.assert_close(saved["test"], model.encode(x_test), rtol=1e-4, atol=1e-5)
    assert not (tmp_path / "run" / "results.json").exists()
