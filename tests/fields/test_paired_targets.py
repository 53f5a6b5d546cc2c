"""Super-resolution training: functions generated from low-resolution images, scored on paired targets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import hyperfunc as hf
from hyperfunc.fields import (
    FieldsConfig,
    ImageBatch,
    ImageHyperNet,
    image_to_coords,
    per_image_mse,
    psnr,
    train_fields,
)


def _model(seed: int = 0) -> ImageHyperNet:
    torch.manual_seed(seed)
    target = hf.stateless(hf.targets.siren(2, 1, hidden=(16, 16)))
    return ImageHyperNet(1, 8, target, embedding_dim=16, encoder_widths=(8,), hidden=(32,))


def _pairs(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """16×16 images of one sharp 5×5 square each and their 8×8 area-averaged versions."""
    g = torch.Generator().manual_seed(seed)
    high = torch.zeros(n, 1, 16, 16)
    for i in range(n):
        y, x = torch.randint(0, 11, (2,), generator=g).tolist()
        high[i, 0, y : y + 5, x : x + 5] = 1.0
    return F.avg_pool2d(high, 2), high


def test_loss_on_targets_by_hand() -> None:
    model = _model()
    torch.nn.init.normal_(model.hypernet.head.weight, std=0.1)
    low, high = _pairs(3)
    torch.testing.assert_close(model.loss(ImageBatch(low, targets=low))[0], model.loss(ImageBatch(low))[0])
    by_hand = per_image_mse(model.target, model.weights(low), *image_to_coords(high)).mean()
    torch.testing.assert_close(model.loss(ImageBatch(low, targets=high))[0], by_hand)
    as_bytes = (high * 255).to(torch.uint8)
    torch.testing.assert_close(model.loss(ImageBatch(low, targets=as_bytes))[0], by_hand)


def test_paired_training_super_resolves_better_than_training_on_the_low_resolution_images() -> None:
    low, high = _pairs(48)
    test_low, test_high = _pairs(16, seed=1)
    scores = {}
    for name, targets in (("paired", high), ("unpaired", None)):
        model = _model()
        train_fields(
            model, low, FieldsConfig(steps=200, batch_size=16, lr=3e-3, progress=False), targets=targets
        )
        scores[name] = float(psnr(model.reconstruct(test_low, size=16), test_high).mean())
    assert scores["paired"] > scores["unpaired"] + 1.0, scores


def test_mismatched_targets_are_named_and_change_nothing() -> None:
    model = _model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    low, high = _pairs(4)
    with pytest.raises(ValueError, match=r"targets must be \[B, C, H', W'\] = \[4, 1, H', W'\]"):
        model.loss(ImageBatch(low, targets=high[:3]))[0]
    three = high.expand(4, 3, 16, 16)
    with pytest.raises(ValueError, match=r"\(one per training image.*got \[4, 3, 16, 16\]"):
        train_fields(model, low, FieldsConfig(steps=2, batch_size=2, progress=False), targets=three)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
