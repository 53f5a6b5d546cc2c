"""Inpainting masks: random holes, the generator's view of a masked image, masked training and scoring."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hyperfunc as hf
from hyperfunc.fields import (
    FieldsConfig,
    ImageBatch,
    ImageHyperNet,
    image_to_coords,
    mse,
    per_image_mse,
    psnr,
    random_masks,
    train_fields,
)
from hyperfunc.fields._masks import mean_filled


def _model() -> ImageHyperNet:
    target = hf.stateless(hf.targets.siren(2, 1, hidden=(8,)))
    model = ImageHyperNet(1, 8, target, embedding_dim=8, encoder_widths=(4,), hidden=(16,))
    torch.nn.init.normal_(model.hypernet.head.weight, std=0.1)  # weights that depend on the image
    return model


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 6),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    lo=st.floats(0, 1),
    span=st.floats(0, 1),
    seed=st.integers(0, 99),
)
def test_random_masks_are_all_known_or_one_rectangle_of_the_asked_size(
    n: int, h: int, w: int, lo: float, span: float, seed: int
) -> None:
    hi = min(1.0, lo + span)
    g = torch.Generator().manual_seed(seed)
    m = random_masks(n, h, w, hole=(lo, hi), drop=(0.0, 0.0), generator=g)  # no scattered pixels
    assert m.shape == (n, 1, h, w) and m.dtype == torch.float32
    for mask in m[:, 0]:
        rows, cols = (mask == 0).any(1).nonzero().flatten(), (mask == 0).any(0).nonzero().flatten()
        if len(rows) == 0:
            continue  # a scattered mask that dropped nothing
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert (mask[top:bottom, left:right] == 0).all()
        assert (mask == 0).sum() == (bottom - top) * (right - left)
        for side, size in ((bottom - top, h), (right - left, w)):
            assert max(1, round(lo * size) - 1) <= side <= max(1, round(hi * size) + 1)
    assert torch.equal(
        m,
        random_masks(n, h, w, hole=(lo, hi), drop=(0.0, 0.0), generator=torch.Generator().manual_seed(seed)),
    )


def test_random_masks_scattered_rates_and_errors() -> None:
    m = random_masks(400, 16, drop=(0.25, 0.25), hole=(0.0, 0.0), generator=torch.Generator().manual_seed(0))
    hidden = (m == 0).float().mean((1, 2, 3))
    # about half are (empty-ish) rectangles, the others drop a quarter of their pixels
    scattered = hidden[hidden > 0.05]
    assert 150 < len(scattered) < 250 and abs(float(scattered.mean()) - 0.25) < 0.01
    with pytest.raises(ValueError, match=r"hole must be a range \(lo, hi\) with 0 <= lo <= hi <= 1"):
        random_masks(2, 8, hole=(0.6, 0.2))
    with pytest.raises(ValueError, match="drop must be a range"):
        random_masks(2, 8, drop=(0.0, 1.5))
    with pytest.raises(ValueError, match="n >= 0 and a positive size"):
        random_masks(2, 0)


def test_mean_filled_by_hand() -> None:
    x = torch.arange(8.0).view(1, 2, 2, 2)  # channels [[0, 1], [2, 3]] and [[4, 5], [6, 7]]
    m = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    expected = torch.tensor([[[[0.0, 1.0], [2.0, 1.0]], [[4.0, 5.0], [6.0, 5.0]]]])
    assert torch.equal(mean_filled(x, m), expected)


def test_masked_loss_generates_from_the_filled_image_and_scores_every_pixel() -> None:
    model, x = _model(), torch.rand(3, 1, 8, 8)
    m = torch.ones(3, 1, 8, 8)
    m[:, :, 2:6, 1:4] = 0
    coords, values = image_to_coords(x)
    by_hand = per_image_mse(model.target, model.weights(mean_filled(x, m)), coords, values).mean()
    loss = model.loss(ImageBatch(x, mask=m))[0]
    torch.testing.assert_close(loss, by_hand)
    assert not torch.allclose(loss, model.loss(ImageBatch(x))[0])
    loss.backward()
    assert model.hypernet.head.weight.grad is not None
    with pytest.raises(ValueError, match=r"mask must be \[B, 1, H, W\] or \[B, H, W\] = \[3, 8, 8\]"):
        model.loss(ImageBatch(x, mask=torch.ones(3, 8, 9)))[0]


def test_train_fields_shows_the_asked_share_of_images_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[torch.Tensor | None] = []
    original = ImageHyperNet.loss

    def spy(self: ImageHyperNet, batch: ImageBatch) -> tuple[torch.Tensor, dict[str, float]]:
        seen.append(batch.mask)
        return original(self, batch)

    monkeypatch.setattr(ImageHyperNet, "loss", spy)
    images = torch.rand(8, 1, 8, 8)
    train_fields(_model(), images, FieldsConfig(steps=40, batch_size=8, mask_rate=0.5, progress=False))
    assert all(m is not None and m.shape == (8, 1, 8, 8) for m in seen) and len(seen) == 40
    masks = torch.cat([m for m in seen if m is not None])
    masked = (masks == 0).flatten(1).any(1).float().mean()
    assert 0.3 < float(masked) < 0.55  # half shown masked (a few random masks hide nothing)
    seen.clear()
    train_fields(_model(), images, FieldsConfig(steps=3, batch_size=8, progress=False))
    assert seen == [None, None, None]
    with pytest.raises(ValueError, match=r"mask_rate=1.5 \(expected a number in \[0, 1\]\)"):
        FieldsConfig(mask_rate=1.5)


def test_psnr_on_chosen_pixels() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 5, 5, generator=g), torch.rand(2, 3, 5, 5, generator=g)
    where = (torch.rand(2, 1, 5, 5, generator=g) < 0.5).float()
    for i in range(2):
        pick = where[i, 0].bool()
        by_hand = ((x[i][:, pick] - y[i][:, pick]) ** 2).mean()
        torch.testing.assert_close(mse(x, y, where=where)[i], by_hand)
        torch.testing.assert_close(psnr(x, y, where=where)[i], -10 * torch.log10(by_hand))
    torch.testing.assert_close(psnr(x, y, where=torch.ones(2, 3, 5, 5)), psnr(x, y))
    with pytest.raises(ValueError, match=r"where has shape \[2, 2, 5, 5\], which does not broadcast"):
        psnr(x, y, where=torch.ones(2, 2, 5, 5))
