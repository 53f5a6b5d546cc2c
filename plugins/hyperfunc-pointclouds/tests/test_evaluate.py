"""evaluate: equals a hand loop of chamfer_distance, consistent per kind, leaves the model alone."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from hyperfunc_pointclouds import HyperCloud, ShapeClouds, chamfer_distance, evaluate, shapes


def small() -> HyperCloud:
    return HyperCloud(dim=8, encoder_widths=(16, 16), hypernet_hidden=(16,))


def hand_loop(model: HyperCloud, clouds: Tensor, n: int, seed: int) -> list[float]:
    """One cloud at a time, one generator: the reference evaluate must reproduce."""
    g = torch.Generator().manual_seed(seed)
    values = []
    with torch.no_grad():
        for i in range(clouds.shape[0]):
            cloud = clouds[i : i + 1]
            values.append(float(chamfer_distance(model.reconstruct(cloud, n, generator=g), cloud)))
    return values


@pytest.mark.parametrize("batch_size", [1, 3, 7, 100])
def test_equals_hand_loop_for_any_batch_size(batch_size: int) -> None:
    model = small()
    data = shapes(7, 40, seed=3)
    got = evaluate(model, data, n_samples=50, batch_size=batch_size, seed=5)
    want = hand_loop(model, data.points, 50, seed=5)
    assert got["num_clouds"] == 7 and got["n_samples"] == 50 and got["seed"] == 5
    torch.testing.assert_close(torch.tensor(got["per_cloud"]), torch.tensor(want))
    assert math.isclose(got["chamfer"], sum(want) / 7, rel_tol=1e-5)


def test_plain_tensor_default_samples_and_seed() -> None:
    model = small()
    clouds = shapes(4, 30, seed=1).points
    got = evaluate(model, clouds)
    assert got["per_kind"] == {} and got["n_samples"] == 30 and got["seed"] == 0
    torch.testing.assert_close(
        torch.tensor(got["per_cloud"]), torch.tensor(hand_loop(model, clouds, 30, seed=0))
    )
    assert evaluate(model, clouds)["per_cloud"] == got["per_cloud"]  # reproducible
    assert evaluate(model, clouds, seed=1)["per_cloud"] != got["per_cloud"]


def test_per_kind_numbers_average_consistently() -> None:
    model = small()
    data = shapes(8, 32, kinds=("sphere", "box", "cone"), seed=2)  # labels 0 1 2 0 1 2 0 1
    got = evaluate(model, data, batch_size=3)
    assert list(got["per_kind"]) == ["sphere", "box", "cone"]
    assert [v["num_clouds"] for v in got["per_kind"].values()] == [3, 3, 2]
    per_cloud = torch.tensor(got["per_cloud"], dtype=torch.float64)
    for index, kind in enumerate(data.kinds):
        mask = data.labels == index
        assert math.isclose(got["per_kind"][kind]["chamfer"], float(per_cloud[mask].mean()))
    weighted = sum(v["chamfer"] * v["num_clouds"] for v in got["per_kind"].values())
    assert math.isclose(weighted / got["num_clouds"], got["chamfer"], rel_tol=1e-12)
    # kinds without clouds are left out
    assert list(evaluate(model, shapes(3, 32))["per_kind"]) == ["sphere", "torus", "box"]


def test_model_and_random_state_are_unchanged() -> None:
    model = small()
    torch.autograd.backward(model.loss(shapes(2, 16).points)[0])  # some gradients to keep
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.encoder.eval()  # a mixed train/eval state is restored as it was
    rng = torch.get_rng_state()
    evaluate(model, shapes(3, 20), batch_size=2)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    after = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    assert after.keys() == grads.keys() and all(torch.equal(after[k], g) for k, g in grads.items())
    assert model.training and not model.encoder.training and model.hypernet.training


def test_clouds_are_cast_to_the_models_dtype() -> None:
    model = small()
    data = shapes(3, 20, dtype=torch.float64)
    got = evaluate(model, data)
    want = evaluate(model, shapes(3, 20))
    torch.testing.assert_close(torch.tensor(got["per_cloud"]), torch.tensor(want["per_cloud"]))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "evaluate: batch_size=0"),
        ({"n_samples": 0}, ValueError, "evaluate: n_samples=0"),
        ({"seed": -1}, ValueError, "evaluate: seed must be a non-negative int"),
        ({"clouds": torch.zeros(0, 5, 3)}, ValueError, r"holds no clouds \(shape \[0, 5, 3\]\)"),
        ({"clouds": torch.zeros(5, 3)}, ValueError, r"evaluate: clouds: expected points"),
        ({"clouds": torch.zeros(2, 5, 3, dtype=torch.long)}, TypeError, r"clouds\.float\(\)"),
        ({"model": nn.Linear(3, 3)}, TypeError, "model must be a HyperCloud"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    args: dict[str, Any] = {"model": small(), "clouds": shapes(2, 10)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        evaluate(**args)


def test_nan_clouds_are_named() -> None:
    data = shapes(2, 10)
    points = data.points.clone()
    points[1, 3, 0] = float("nan")
    bad = ShapeClouds(points, data.labels, data.kinds, data.dims, data.rotations)
    with pytest.raises(ValueError, match=r"evaluate: clouds\.points: 1 coordinate\(s\) are NaN"):
        evaluate(small(), bad)
