"""HyperCloud (encoder → hypernetwork → target) and fit, including a short learning run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hyperfunc as hf
import pytest
import torch
from hyperfunc.run import ConfigError, RunConfig
from torch import Tensor, nn

from hyperfunc_pointclouds import (
    HyperCloud,
    PointCloudConfig,
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
    loss, logs = model.loss(clouds)
    assert loss.shape == () and float(loss.detach()) > 0
    assert logs == {"chamfer": float(loss.detach())}


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
    got, _ = model.loss(clouds, n_samples=40, generator=torch.Generator().manual_seed(1))
    recon = model.reconstruct(clouds, 40, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(got, chamfer_distance(recon, clouds))


def test_gradients_reach_encoder_and_hypernet() -> None:
    model = small()
    torch.autograd.backward(model.loss(torch.randn(2, 20, 3))[0])
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def test_bad_inputs_raise_and_change_nothing() -> None:
    model = small()
    before = state(model)
    nan = torch.randn(2, 10, 3)
    nan[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"HyperCloud.loss: batch: 1 coordinate\(s\) are NaN"):
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
def quick(**kw: Any) -> PointCloudConfig:
    return PointCloudConfig(**{"steps": 3, "batch_size": 2, "progress": False, **kw})


def test_fit_is_reproducible() -> None:
    data = shapes(4, 32, seed=0)
    states = []
    for _ in range(2):
        torch.manual_seed(5)
        model = small()
        results = fit(model, data, quick(seed=1))
        states.append(state(model))
    assert results["steps_done"] == 3 and results["phases"] == [{"phase": "train", "steps": 3}]
    assert all(torch.equal(states[0][k], v) for k, v in states[1].items())
    torch.manual_seed(5)
    other = small()
    fit(other, data.points, quick(seed=2))  # a tensor works too; another seed, other batches
    assert not all(torch.equal(states[0][k], v) for k, v in state(other).items())


def test_fit_with_test_clouds_and_a_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    torch.manual_seed(0)
    results = fit(small(), shapes(4, 32), quick(), test=shapes(3, 32, seed=1), out=out)
    assert "HyperCloud: test Chamfer" in capsys.readouterr().out
    assert results["test_clouds"] == 3 and results["train_clouds"] == 4
    assert list(results["per_kind"]) == ["sphere", "torus", "box"]
    assert results["chamfer_before"] > 0 and results["chamfer_after"] > 0
    for name in ("results.json", "model.pt", "metrics.jsonl"):
        assert (out / name).is_file()


def test_fit_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    fit(small(), shapes(2, 16), quick(steps=2, progress=True))
    assert "train" in capsys.readouterr().err
    fit(small(), shapes(2, 16), quick(steps=2))
    assert capsys.readouterr() == ("", "")


def test_fit_bad_arguments_change_nothing() -> None:
    model = small()
    before = state(model)
    data = shapes(3, 16)
    bad = data.points.clone()
    bad[2, 5, 1] = float("inf")
    with pytest.raises(ValueError, match=r"fit: data: 0 coordinate\(s\) are NaN and 1 infinite"):
        fit(model, bad, quick())
    with pytest.raises(ValueError, match=r"fit: test: 1 coordinate\(s\) are NaN"):
        fit(model, data, quick(), test=bad.nan_to_num(posinf=float("nan")))
    with pytest.raises(TypeError, match="config must be a PointCloudConfig"):
        fit(model, data, RunConfig(steps=2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leave them None"):
        fit(model, data, quick(num_points=8))
    with pytest.raises(TypeError, match="model must be a HyperCloud"):
        fit(nn.Linear(3, 3), data, quick())  # type: ignore[arg-type]
    assert_unchanged(model, before)
    with pytest.raises(ConfigError, match=r"lr=-1.0 .*steps=0 .*batch_size=0 "):
        PointCloudConfig(steps=0, batch_size=0, lr=-1.0)


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
    config = PointCloudConfig(steps=150, lr=2e-3, batch_size=5, progress=False)
    results = fit(model, data, config, test=data)
    after = evaluate()
    assert results["steps_done"] == 150
    assert float(after.diagonal().mean()) < 0.25 * float(before.mean())
    assert results["chamfer_after"] < 0.25 * results["chamfer_before"]
    # the reconstructions are object-specific: much closer to their own input than to the
    # others (a box and a cylinder of similar size can still be close to each other)
    off_diagonal = after[~torch.eye(5, dtype=torch.bool)]
    assert float(after.diagonal().mean()) < 0.25 * float(off_diagonal.mean())
    assert time.perf_counter() - start < 60  # typically a few seconds on one CPU core
