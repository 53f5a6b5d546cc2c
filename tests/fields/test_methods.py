"""ImageHyperNet and MetaInit: reference checks, learning on a tiny set, super-resolution, inpainting."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import hyperfunc as hf
from hyperfunc.fields import (
    FieldsConfig,
    ImageBatch,
    ImageHyperNet,
    MetaInit,
    evaluate_fields,
    grid,
    psnr,
    train_fields,
)
from hyperfunc.inner import SGD, adapt


def _blobs(n: int = 16, size: int = 8, seed: int = 0) -> torch.Tensor:
    """Grey images of one bright square each, at random places: a tiny set with shared structure."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(n, 1, size, size)
    for i in range(n):
        y, x = torch.randint(0, size - 3, (2,), generator=g).tolist()
        out[i, 0, y : y + 3, x : x + 3] = 1.0
    return out


def _small_hypernet(size: int = 8, channels: int = 1, kind: str = "additive") -> ImageHyperNet:
    target = hf.stateless(hf.targets.siren(2, channels, hidden=(16, 16)))
    return ImageHyperNet(
        channels, size, target, embedding_dim=32, encoder_widths=(8, 16), hidden=(64,), hypernet=kind
    )


@pytest.mark.parametrize("kind", ["additive", "mlp"])
def test_generated_functions_equal_hand_built_sirens(kind: str) -> None:
    model = _small_hypernet(channels=3, kind=kind)
    images = torch.rand(3, 3, 8, 8)
    if kind == "additive":  # move the update off its zero start, so the weights differ per image
        torch.nn.init.normal_(model.hypernet.head.weight, std=0.1)
    params = model.weights(images)
    assert not torch.equal(params["0.weight"][0], params["0.weight"][1])
    rec = model.reconstruct(images, size=11)
    for i in range(3):
        net = hf.targets.siren(2, 3, hidden=(16, 16))
        net.load_state_dict({n: p[i] for n, p in params.items()})
        ref = net(grid(11, 11)).T.reshape(3, 11, 11).clamp(0, 1)
        torch.testing.assert_close(rec[i], ref, rtol=1e-5, atol=1e-5)


def test_image_hypernet_learns_a_tiny_set_and_refinement_helps() -> None:
    train = _blobs(32)
    model = _small_hypernet()
    before = evaluate_fields(model, train)
    res = train_fields(model, train, FieldsConfig(steps=150, batch_size=16, lr=1e-3, progress=False))
    after = evaluate_fields(model, train)
    assert res["steps_done"] == 150
    assert after.psnr > before.psnr + 5
    refined = evaluate_fields(model, train, refine_steps=20, refine_lr=1e-3)
    assert refined.psnr > after.psnr


def test_training_with_pixel_subsets_and_time_limit() -> None:
    model = _small_hypernet()
    res = train_fields(model, _blobs(8), FieldsConfig(steps=3, batch_size=4, pixels=10, progress=False))
    assert res["steps_done"] == 3
    res = train_fields(
        model, _blobs(8), FieldsConfig(steps=10**6, batch_size=4, time_limit=1e-9, progress=False)
    )
    assert res["stopped_by_time_limit"] and res["steps_done"] < 10**6


def test_super_resolution_and_inpainting_shapes() -> None:
    model = _small_hypernet()
    x = _blobs(2)
    assert model.reconstruct(x, size=30).shape == (2, 1, 30, 30)
    mask = torch.ones(2, 8, 8)
    mask[:, 2:5, 2:5] = 0
    filled = model.reconstruct(x, mask=mask, refine_steps=2)
    other = x.clone()
    other[:, :, 2:5, 2:5] = 0.5  # the hidden pixels: changing them changes nothing
    assert torch.equal(filled, model.reconstruct(other, mask=mask, refine_steps=2))
    # the generator sees the hidden pixels as the mean of each image's known pixels
    m = mask[:, None]
    by_hand = x * m + (x * m).sum((2, 3), keepdim=True) / m.sum((2, 3), keepdim=True) * (1 - m)
    generated, expected = model.refined(x, 0, 1e-3, mask=mask), model.weights(by_hand)
    for n, w in generated.items():
        torch.testing.assert_close(w, expected[n].detach())
    with pytest.raises(ValueError, match=r"mask must be \[B, 1, H, W\] or \[B, H, W\] = \[2, 8, 8\]"):
        model.reconstruct(x, mask=torch.ones(3, 8, 8))


def test_bad_images_are_named_and_change_nothing() -> None:
    model = _small_hypernet()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"expects images \[B, 1, 8, 8\], got \[2, 1, 9, 9\]"):
        model.loss(ImageBatch(torch.rand(2, 1, 9, 9)))[0]
    with pytest.raises(ValueError, match=r"expects images \[B, 1, 8, 8\], got \[2, 3, 8, 8\]"):
        train_fields(model, torch.rand(2, 3, 8, 8), FieldsConfig(steps=3, batch_size=2, progress=False))
    with pytest.raises(ValueError, match=r"batch_size=5 but there are only 2 training images"):
        train_fields(model, torch.rand(2, 1, 8, 8), FieldsConfig(steps=3, batch_size=5, progress=False))
    with pytest.raises(ValueError, match=r"pixels=65 but the scored images have 64 pixels"):
        train_fields(model, torch.rand(2, 1, 8, 8), FieldsConfig(steps=3, batch_size=2, pixels=65))
    with pytest.raises(ValueError, match="hypernet must be 'additive' or 'mlp', got 'chunky'"):
        ImageHyperNet(1, 8, hypernet="chunky")
    with pytest.raises(TypeError, match="hyperfunc.stateless"):
        ImageHyperNet(1, 8, hf.targets.siren(2, 1))  # type: ignore[arg-type]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_uint8_images_are_scaled() -> None:
    model = _small_hypernet()
    x = (_blobs(2) * 255).to(torch.uint8)
    torch.testing.assert_close(model.loss(ImageBatch(x))[0], model.loss(ImageBatch(x.float() / 255))[0])


def test_meta_init_matches_looped_adapt_and_its_meta_gradient() -> None:
    target = hf.stateless(hf.targets.siren(2, 1, hidden=(8, 8)))
    model = MetaInit(1, 5, target, inner_steps=2, inner_lr=0.05)
    images = torch.rand(3, 1, 5, 5)
    fast = model.weights(images)
    (fast["4.weight"].pow(2).sum()).backward()
    got = {n: p.grad.clone() for n, p in model.theta.items()}
    coords = grid(5, 5)
    ref_grads = {n: torch.zeros_like(p) for n, p in model.theta.items()}
    for i in range(3):
        init = {n.replace("/", "."): p for n, p in model.theta.items()}
        one = adapt(
            target, init, F.mse_loss, coords, images[i].reshape(1, 25).T, optimizer=SGD(lr=0.05), steps=2
        )
        torch.testing.assert_close(one["4.weight"], fast["4.weight"][i], rtol=1e-5, atol=1e-6)
        gs = torch.autograd.grad(one["4.weight"].pow(2).sum(), list(init.values()))
        for (n, _), g in zip(model.theta.items(), gs):
            ref_grads[n] += g
    for n in got:
        torch.testing.assert_close(got[n], ref_grads[n], rtol=1e-4, atol=1e-6)


def test_meta_init_learns() -> None:
    target = hf.stateless(hf.targets.siren(2, 1, hidden=(16, 16)))
    model = MetaInit(1, 8, target, inner_steps=2, inner_lr=1e-2)
    train = _blobs(32)
    before = evaluate_fields(model, train)
    train_fields(model, train, FieldsConfig(steps=100, batch_size=16, lr=1e-3, progress=False))
    after = evaluate_fields(model, train)
    assert after.psnr > before.psnr + 3
    assert not any(p.grad is None for p in model.parameters())


def test_evaluate_fields_super_resolution_reference() -> None:
    model = _small_hypernet()
    low = _blobs(3)
    high = F.interpolate(low, size=16, mode="nearest")
    q = evaluate_fields(model, low, size=16, reference=high)
    rec = model.reconstruct(low, size=16)
    assert q.psnr == pytest.approx(psnr(rec, high).mean().item(), abs=1e-4) and q.n == 3
    with pytest.raises(ValueError, match="reference needs size="):
        evaluate_fields(model, low, reference=high)


def test_per_image_fitting_fits_each_image_batch_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An evaluation before and after refinement, then a picture, used to refit the same images."""
    import hyperfunc.fields._per_image as per_image

    calls = []
    real = per_image.fit

    def counting(*args: Any, **kw: Any) -> Any:
        calls.append(args[2].shape[0])
        return real(*args, **kw)

    monkeypatch.setattr(per_image, "fit", counting)
    coin = hf.fields.PerImageFit(in_channels=1, image_size=8, steps=5, lr=1e-3)
    images = torch.rand(6, 1, 8, 8)
    first = coin.reconstruct(images)
    again = coin.reconstruct(images.clone())  # equal images, another tensor
    assert torch.equal(first, again) and len(calls) == 1
    coin.reconstruct(images[:2])  # other images: fitted
    coin.reconstruct(images + 0.1)
    assert len(calls) == 3


def test_refinement_never_makes_an_image_s_fit_worse() -> None:
    torch.manual_seed(0)
    net = hf.fields.ImageHyperNet(1, 8, embedding_dim=8, encoder_widths=(8,), hidden=(16,))
    images = torch.rand(5, 1, 8, 8)
    plain = hf.fields.psnr(net.reconstruct(images), images)
    wild = hf.fields.psnr(net.reconstruct(images, refine_steps=3, refine_lr=10.0), images)  # far too big
    gentle = hf.fields.psnr(net.reconstruct(images, refine_steps=3, refine_lr=1e-2), images)
    assert (wild >= plain - 1e-4).all() and (gentle >= plain - 1e-4).all()
    assert (gentle > plain + 1e-3).any()  # and a sensible refinement still helps
