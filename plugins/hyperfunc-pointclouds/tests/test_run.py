"""hyperfunc run --method hypercloud: the pointclouds family end to end, resume, refusals."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import hyperfunc as hf
import numpy as np
import pytest
import torch
from hyperfunc._cli import main
from hyperfunc.run import families

from hyperfunc_pointclouds import (
    SHAPES,
    HyperCloud,
    PointCloudConfig,
    PointCloudFamily,
    evaluate,
    shapes,
)

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

# a model and data small enough for a step in a few milliseconds on one CPU thread
TINY = [
    "--method", "hypercloud", "--tasks", "shapes",
    "--task-arg", "num_clouds=5", "--task-arg", "num_points=32",
    "--method-arg", "dim=8", "--method-arg", "encoder_widths=[16,16]",
    "--method-arg", "hypernet_hidden=[16]",
    "--batch-size", "4", "--lr", "3e-3", "--threads", "1", "--no-progress",
]


def small() -> HyperCloud:
    return HyperCloud(dim=8, encoder_widths=(16, 16), hypernet_hidden=(16,))


def run(*argv: str) -> int:
    return main(["run", *argv])


def weights(path: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = torch.load(path, weights_only=True)
    return state


def test_method_and_family_are_registered() -> None:
    assert HyperCloud.family == PointCloudFamily.name == "pointclouds"
    assert hf.methods.get("hypercloud") is HyperCloud
    assert families.get("pointclouds") is PointCloudFamily
    assert PointCloudFamily.config is PointCloudConfig
    assert PointCloudFamily.default_tasks == "shapes"


def test_shapes_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "deep" / "run"
    assert run(*TINY, "--steps", "3", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "HyperCloud: test Chamfer" in printed and str(out / "results.json") in printed
    for name in ("results.json", "model.pt", "metrics.jsonl"):
        assert (out / name).is_file(), name

    results = json.loads((out / "results.json").read_text())
    assert results["steps_done"] == 3 and results["phases"] == [{"phase": "train", "steps": 3}]
    assert results["train_clouds"] == results["test_clouds"] == 5
    assert results["num_points"] == results["eval_samples"] == 32
    assert (results["data"], results["train_seed"], results["test_seed"]) == ("shapes", 0, 1)
    assert results["settings"]["batch_size"] == 4 and results["settings"]["steps"] == 3
    # per kind: one test cloud of each kind, averaging to the overall numbers
    assert list(results["per_kind"]) == list(SHAPES)
    assert all(v["num_clouds"] == 1 for v in results["per_kind"].values())
    for when in ("before", "after"):
        mean = sum(v[when] for v in results["per_kind"].values()) / len(SHAPES)
        assert math.isclose(mean, results[f"chamfer_{when}"], rel_tol=1e-9)
    [line] = (out / "metrics.jsonl").read_text().splitlines()  # log_every 50: the last step
    logged = json.loads(line)
    assert logged["step"] == 3 and logged["chamfer"] == logged["loss"]

    # model.pt holds the trained weights: evaluating them again gives chamfer_after
    model = small()
    model.load_state_dict(weights(out / "model.pt"))
    test = shapes(5, 32, seed=results["test_seed"])
    assert not torch.equal(test.points, shapes(5, 32, seed=results["train_seed"]).points)
    again = evaluate(model, test, batch_size=4, seed=0)
    assert math.isclose(again["chamfer"], results["chamfer_after"], rel_tol=1e-6)
    # ... and the run started from the weights of torch.manual_seed(seed)
    torch.manual_seed(0)
    before = evaluate(small(), test, batch_size=4, seed=0)
    assert math.isclose(before["chamfer"], results["chamfer_before"], rel_tol=1e-6)

    if HAVE_MATPLOTLIB:
        assert results["plot"] == "reconstructions.png"
        assert (out / "reconstructions.png").read_bytes().startswith(b"\x89PNG")
    else:
        assert results["plot"] is None and not (out / "reconstructions.png").exists()


def _interrupt_at_step_3(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    loss = HyperCloud.loss
    calls = 0

    def interrupted(self: HyperCloud, batch: torch.Tensor, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            if how == "signal":  # Ctrl-C: the loop finishes the step, checkpoints and stops
                os.kill(os.getpid(), signal.SIGINT)
            else:  # killed mid-step: the checkpoint of step 2 (--checkpoint-every 2) is kept
                raise KeyboardInterrupt
        return loss(self, batch, **kw)

    monkeypatch.setattr(HyperCloud, "loss", interrupted)


@pytest.mark.parametrize("how", ["signal", "exception"])
def test_an_interrupted_run_resumes_to_the_same_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    argv = [*TINY, "--steps", "4", "--checkpoint-every", "2", "--log-every", "1"]
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert run(*argv, "--out", str(whole)) == 0

    with monkeypatch.context() as patch:
        _interrupt_at_step_3(patch, how)
        assert run(*argv, "--out", str(part)) == 130
    err = capsys.readouterr().err
    assert "--resume" in err and not (part / "results.json").exists()
    assert run(*argv, "--out", str(part), "--resume") == 0

    a, b = weights(whole / "model.pt"), weights(part / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ra = json.loads((whole / "results.json").read_text())
    rb = json.loads((part / "results.json").read_text())
    for key in ("chamfer_before", "chamfer_after", "per_kind", "steps_done"):
        assert ra[key] == rb[key], key
    # the same training losses, one line per step (the interrupted lines are dropped)
    losses = [
        [json.loads(line)["loss"] for line in (folder / "metrics.jsonl").read_text().splitlines()]
        for folder in (whole, part)
    ]
    assert len(losses[0]) == 4 and losses[0] == losses[1]


def test_data_run(tmp_path: Path) -> None:
    folder = tmp_path / "clouds"
    folder.mkdir()
    points = shapes(6, 60, seed=4).points.numpy()
    np.save(folder / "a.npy", points[:4])
    np.save(folder / "b.npy", points[4:])
    out = tmp_path / "run"
    argv = ["--method", "hypercloud", "--method-arg", "dim=8", "--method-arg",
            "hypernet_hidden=[16]", "--threads", "1", "--no-progress"]
    assert run(*argv, "--data", str(folder), "--num-points", "40", "--steps", "2",
               "--out", str(out)) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"] == str(folder.resolve()) and results["per_kind"] == {}
    assert results["train_clouds"] == 5 and results["test_clouds"] == 1  # 20 % of 6 held out
    assert len(results["test_indices"]) == 1 and results["num_points"] == 40
    assert results["test_fraction"] == 0.2
    if HAVE_MATPLOTLIB:
        assert (out / "reconstructions.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--method-arg", "widths=3"], "method 'hypercloud' takes no argument(s) widths"),
        (["--method-arg", "dim=0"], "HyperCloud: dim=0"),
        (["--task-arg", "clouds=3"], "--task-arg: task 'shapes' takes no argument(s) clouds"),
        (["--task-arg", "seed=3"], "task 'shapes': seed is set by hyperfunc run itself"),
        (["--num-points", "10"], "--num-points: for --data only"),
        (["--test-fraction", "0.5"], "--test-fraction: for --data only"),
        (["--test-fraction", "1"], "test_fraction=1.0 (expected a number with 0 < F < 1)"),
        (["--batch-size", "0"], "batch_size=0 (expected an int >= 1)"),
        (["--target", "mlp"], "HyperCloud builds its own hypercloud target"),
        (["--data", "{missing}"], "--data: load_point_clouds: {missing} does not exist"),
        (["--data", "{one}"], "--data: '{one}' holds 1 cloud; at least 2"),
        (["--data", "{one}", "--num-points", "11"], "--data: load_point_clouds: {one} has"),
        (["--data", "{one}", "--task-arg", "num_clouds=3"], "--task-arg: with --data"),
        (["--data", "{one}", "--tasks", "shapes"], "--tasks shapes: with --data the clouds"),
    ],
)
def test_mistakes_are_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    paths = {"{missing}": tmp_path / "missing", "{one}": tmp_path / "one.npy"}
    np.save(paths["{one}"], np.zeros((10, 3)))
    for key, path in paths.items():
        argv = [a.replace(key, str(path)) for a in argv]
        expected = expected.replace(key, str(path))
    out = tmp_path / "run"
    assert run("--method", "hypercloud", "--no-progress", *argv, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith("hyperfunc run: error: ") and err.count("\n") == 1, err
    assert expected in err, err
    assert not out.exists()  # nothing was written
