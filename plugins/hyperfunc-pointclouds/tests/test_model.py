"""HyperCloud (encoder → hypernetwork → target) and fit, including a short learning run."""

from __future__ import annotations

import time
from typing import Any

import hyperfunc as hf
import pytest
import torch
from torch import Tensor, nn

from hyperfunc_pointclouds import (
    HyperCloud,
    PointNetEncoder,
    chamfer_distance,
    fit,
    sample_unit_ball,
    shapes,
)


def small(**kw: Any) -> HyperCloud:
    return HyperCloud(dim=8, encoder_widths=(16, 16), hypernet_hidden=(16,), **kw)


def state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: dict[str, Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert all(p.grad is None for p in model.parameters())


def test_components() -> None:
    model = small()
    assert isinstance(model.encoder, PointNetEncoder) and model.encoder.dim == 8
    assert isinstance(model.hypernet, hf.hypernets.MLPHyperNet)
    assert isinstance(model.target, hf.Target) and model.target.spec == model.hypernet.spec
    # the target is data, not a submodule: the trainable state is encoder + hypernet
    assert {k.split(".")[0] for k in model.state_dict()} == {"encoder", "hypernet"}
    chunked = small(hypernet="chunked", chunk_size=500)
    assert isinstance(chunked.hypernet, hf.hypernets.Chunked)
    assert chunked.hypernet.num_chunks == -(-model.target.spec.size // 500)


@pytest.mark.parametrize("hypernet", ["mlp", "chunked"])
def test_forward_reconstruct_loss_shapes(hypernet: str) -> None:
    model = small(hypernet=hypernet, chunk_size=1000)
    clouds = torch.randn(3, 30, 3)
    params = model(clouds)
    assert model.target.spec.validate(params) == (3,)
    assert model.embed(clouds).shape == (3, 8)
    assert model.reconstruct(clouds, 45).shape == (3, 45, 3)
    loss = model.loss(clouds)
    assert loss.shape == () and float(loss.detach()) > 0


def test_forward_is_permutation_invariant() -> None:
    model = small()
    clouds = torch.randn(2, 50, 3)
    perm = torch.randperm(50)
    for k, v in model(clouds[:, perm]).items():
        torch.testing.assert_close(v, model(clouds)[k])


def test_reconstruct_is_one_batched_call_equal_to_per_object_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = small()
    clouds = torch.randn(4, 30, 3)
    calls = []
    batched = model.target.batched

    def counting(*args: Any, **kw: Any) -> Any:
        calls.append(args[1].shape)
        return batched(*args, **kw)

    monkeypatch.setattr(model.target, "batched", counting)
    with torch.no_grad():
        recon = model.reconstruct(clouds, 20, generator=torch.Generator().manual_seed(9))
        params = model(clouds)
    assert calls == [(4, 20, 3)]  # all objects in one call, each with its own ball sample
    base = sample_unit_ball(20, batch=(4,), generator=torch.Generator().manual_seed(9))
    net = hf.targets.mlp(3, 3, hidden=(32, 64, 128, 64))
    for i in range(4):
        net.load_state_dict({k: v[i] for k, v in params.items()})
        with torch.no_grad():
            torch.testing.assert_close(recon[i], net(base[i]), rtol=1e-5, atol=1e-6)


def test_loss_is_chamfer_of_reconstruction() -> None:
    model = small()
    clouds = torch.randn(3, 25, 3)
    got = model.loss(clouds, n_samples=40, generator=torch.Generator().manual_seed(1))
    recon = model.reconstruct(clouds, 40, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(got, chamfer_distance(recon, clouds))


def test_gradients_reach_encoder_and_hypernet() -> None:
    model = small()
    torch.autograd.backward(model.loss(torch.randn(2, 20, 3)))
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def test_bad_inputs_raise_and_change_nothing() -> None:
    model = small()
    before = state(model)
    nan = torch.randn(2, 10, 3)
    nan[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"HyperCloud.loss: points: 1 coordinate\(s\) are NaN"):
        model.loss(nan)
    with pytest.raises(ValueError, match=r"\[B, N, 3\].*points.unsqueeze\(0\)"):
        model(torch.randn(10, 3))
    with pytest.raises(ValueError, match="empty"):
        model.reconstruct(torch.randn(2, 0, 3), 5)
    with pytest.raises(ValueError, match="n_samples=0"):
        model.reconstruct(torch.randn(2, 10, 3), 0)
    with pytest.raises(TypeError, match=r"points\.float\(\)"):
        model(torch.zeros(2, 10, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"base must be points \[B, S, 3\]"):
        model.decode(model(torch.randn(2, 10, 3)), torch.randn(2, 10, 2))
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match="unknown hypernet 'lora'; choose one of 'mlp', 'chunked'"):
        HyperCloud(hypernet="lora")


# ------------------------------------------------------------------------ fit
def test_fit_is_reproducible_and_returns_history() -> None:
    data = shapes(4, 32, seed=0)
    histories = []
    for _ in range(2):
        torch.manual_seed(5)
        model = small()
        histories.append(fit(model, data, steps=3, batch_size=2, seed=1, progress=False))
    assert len(histories[0]) == 3 and histories[0] == histories[1]
    torch.manual_seed(5)
    other = fit(small(), data.points, steps=3, batch_size=2, seed=2, progress=False)
    assert other != histories[0]  # a tensor works too; another seed, other batches


def test_fit_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    fit(small(), shapes(2, 16), steps=2, batch_size=2, progress=True)
    assert "fit HyperCloud" in capsys.readouterr().err
    fit(small(), shapes(2, 16), steps=2, batch_size=2, progress=False)
    assert capsys.readouterr().err == ""


def test_fit_bad_arguments_change_nothing() -> None:
    model = small()
    before = state(model)
    data = shapes(3, 16)
    bad = data.points.clone()
    bad[2, 5, 1] = float("inf")
    with pytest.raises(ValueError, match=r"fit: data: 0 coordinate\(s\) are NaN and 1 infinite"):
        fit(model, bad, steps=2, progress=False)
    with pytest.raises(ValueError, match="steps=0"):
        fit(model, data, steps=0, progress=False)
    with pytest.raises(ValueError, match="batch_size=0"):
        fit(model, data, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        fit(model, data, lr=-1.0, progress=False)
    with pytest.raises(ValueError, match="n_samples=0"):
        fit(model, data, n_samples=0, progress=False)
    with pytest.raises(TypeError, match="model must be a HyperCloud"):
        fit(nn.Linear(3, 3), data, progress=False)  # type: ignore[arg-type]
    assert_unchanged(model, before)


def test_learns_to_reconstruct_shapes() -> None:
    """A short run on one cloud of each kind: the Chamfer loss falls far below its start."""
    start = time.perf_counter()
    data = shapes(num_clouds=5, num_points=128, seed=0)
    torch.manual_seed(0)
    model = HyperCloud(dim=32, encoder_widths=(32, 64), hypernet_hidden=(64,))

    def evaluate() -> Tensor:
        with torch.no_grad():
            recon = model.reconstruct(data.points, 256, generator=torch.Generator().manual_seed(1))
            # [i, j]: reconstruction of cloud i against input cloud j
            return chamfer_distance(
                recon[:, None].expand(-1, 5, -1, -1),
                data.points[None].expand(5, -1, -1, -1),
                reduction="none",
            )

    before = evaluate().diagonal()
    history = fit(model, data, steps=150, lr=2e-3, batch_size=5, seed=0, progress=False)
    after = evaluate()
    assert len(history) == 150
    assert float(after.diagonal().mean()) < 0.25 * float(before.mean())
    assert sum(history[-10:]) < 0.25 * sum(history[:10])
    # the reconstructions are object-specific: much closer to their own input than to the
    # others (a box and a cylinder of similar size can still be close to each other)
    off_diagonal = after[~torch.eye(5, dtype=torch.bool)]
    assert float(after.diagonal().mean()) < 0.25 * float(off_diagonal.mean())
    assert time.perf_counter() - start < 60  # typically a few seconds on one CPU core
