"""train_fields' checkpoints: a resumed run equals an uninterrupted one; mismatches are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import hyperfunc as hf
from hyperfunc._rundir import CheckpointMismatchError
from hyperfunc.fields import ImageHyperNet, train_fields


def _model(seed: int) -> ImageHyperNet:
    torch.manual_seed(seed)
    target = hf.stateless(hf.targets.siren(2, 1, hidden=(8,)))
    return ImageHyperNet(1, 8, target, embedding_dim=8, encoder_widths=(4,), hidden=(16,))


IMAGES = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))
KW: dict[str, Any] = {"batch_size": 4, "lr": 1e-3, "pixels": 20, "mask_rate": 0.5, "show_progress": False}


def test_resumed_training_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = _model(0)
    expected = train_fields(whole, IMAGES, steps=7, **KW)
    ckpt = tmp_path / "ckpt.pt"
    first = train_fields(_model(0), IMAGES, steps=3, checkpoint=ckpt, checkpoint_every=2, **KW)
    assert first == expected[:3]
    resumed = _model(1)  # another initialisation: the checkpoint's state replaces it
    losses = train_fields(resumed, IMAGES, steps=7, checkpoint=ckpt, resume=True, **KW)
    assert losses == expected
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    saved = torch.load(ckpt, weights_only=False)
    assert len(saved["losses"]) == 7 and saved["identity"]["mask_rate"] == 0.5


def test_checkpoints_are_written_every_n_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hyperfunc.fields._train as train_module

    written: list[int] = []
    real = train_module.atomic_save
    monkeypatch.setattr(train_module, "atomic_save",
                        lambda obj, path: (written.append(len(obj["losses"])), real(obj, path)))
    train_fields(_model(0), IMAGES, steps=5, checkpoint=tmp_path / "c.pt", checkpoint_every=2, **KW)
    assert written == [2, 4, 5]


def test_resume_is_refused_for_another_run_or_no_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "c.pt"
    train_fields(_model(0), IMAGES, steps=2, checkpoint=ckpt, identity={"target": "siren"}, **KW)
    model = _model(1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match=r"differs in \['lr'\]"):
        train_fields(model, IMAGES, steps=4, checkpoint=ckpt, resume=True, identity={"target": "siren"},
                     **{**KW, "lr": 1e-2})
    with pytest.raises(CheckpointMismatchError, match=r"differs in \['target'\]"):
        train_fields(model, IMAGES, steps=4, checkpoint=ckpt, resume=True, identity={"target": "mlp"}, **KW)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train_fields(model, IMAGES, steps=4, checkpoint=tmp_path / "none.pt", resume=True, **KW)
    with pytest.raises(ValueError, match="checkpoint_every must be >= 1"):
        train_fields(model, IMAGES, steps=4, checkpoint=ckpt, checkpoint_every=0, **KW)
