"""python -m hyperfunc_pointclouds: an end-to-end run in-process, its files, and its refusals."""

from __future__ import annotations

import importlib.util
import json
import math
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hyperfunc_pointclouds import SHAPES, HyperCloud, evaluate, shapes
from hyperfunc_pointclouds.__main__ import main

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

# a model and data small enough to train in about a second on one CPU thread
TINY = [
    "--num-points", "48", "--dim", "8", "--encoder-widths", "16", "16",
    "--hypernet-hidden", "16", "--batch-size", "5", "--lr", "3e-3", "--no-progress",
]
RESULT_KEYS = {
    "chamfer_before", "chamfer_after", "per_kind", "steps", "seconds", "total_seconds",
    "train_loss_first", "train_loss_last", "train_clouds", "test_clouds", "num_points",
    "eval_samples", "data", "settings", "files", "versions",
}


def run_ok(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def run_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_shapes_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "deep" / "run"  # created, parents included
    argv = [*TINY, "--steps", "25", "--num-clouds", "5", "--test-clouds", "10", "--out", str(out)]
    printed = run_ok(argv, capsys)
    assert "test Chamfer before training" in printed and str(out / "results.json") in printed

    plot = ["reconstructions.png"] if HAVE_MATPLOTLIB else []
    assert sorted(p.name for p in out.iterdir()) == sorted(["model.pt", "results.json", *plot])
    results = json.loads((out / "results.json").read_text())
    assert RESULT_KEYS | {"train_seed", "test_seed"} == set(results)
    assert results["chamfer_after"] < results["chamfer_before"]
    assert results["steps"] == 25 and results["seconds"] > 0
    assert results["train_clouds"] == 5 and results["test_clouds"] == 10
    assert results["num_points"] == results["eval_samples"] == 48
    assert results["data"] == "shapes" and results["train_seed"] != results["test_seed"]
    assert results["settings"]["steps"] == 25 and results["settings"]["out"] == str(out)
    assert results["files"] == {"model": "model.pt", "plot": plot[0] if plot else None}
    # per kind: every kind, two test clouds each, averaging to the overall numbers
    assert list(results["per_kind"]) == list(SHAPES)
    assert all(v["num_clouds"] == 2 for v in results["per_kind"].values())
    for when in ("before", "after"):
        mean = sum(v[when] for v in results["per_kind"].values()) / len(SHAPES)
        assert math.isclose(mean, results[f"chamfer_{when}"], rel_tol=1e-9)
    if plot:
        assert (out / plot[0]).read_bytes().startswith(b"\x89PNG")

    # model.pt holds the trained weights: evaluating them again gives chamfer_after
    model = HyperCloud(dim=8, encoder_widths=(16, 16), hypernet_hidden=(16,))
    model.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    test = shapes(10, 48, seed=results["test_seed"])
    train = shapes(5, 48, seed=results["train_seed"])
    assert not torch.equal(test.points[:5], train.points)  # test clouds differ from training
    again = evaluate(model, test, batch_size=5, seed=0)
    assert math.isclose(again["chamfer"], results["chamfer_after"], rel_tol=1e-5)


def test_data_run_and_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "clouds"
    folder.mkdir()
    points = shapes(6, 60, seed=4).points.numpy()
    np.save(folder / "a.npy", points[:4])
    np.save(folder / "b.npy", points[4:])
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "reconstructions.png").write_bytes(b"stale")
    argv = [*TINY, "--data", str(folder), "--num-points", "40", "--steps", "2", "--out", str(out)]
    assert "--overwrite" in run_error(argv, capsys)
    run_ok([*argv, "--overwrite"], capsys)
    assert (out / "notes.txt").read_text() == "mine"  # only the command's own files replaced
    results = json.loads((out / "results.json").read_text())
    assert RESULT_KEYS | {"test_fraction", "test_indices"} == set(results)
    assert results["data"] == str(folder.resolve()) and results["per_kind"] == {}
    assert results["train_clouds"] == 5 and results["test_clouds"] == 1  # 20 % of 6 held out
    assert len(results["test_indices"]) == 1 and results["num_points"] == 40
    if HAVE_MATPLOTLIB:
        assert (out / "reconstructions.png").read_bytes().startswith(b"\x89PNG")
    else:
        assert not (out / "reconstructions.png").exists()  # no stale picture left behind


def test_refuses_a_non_empty_out_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text("{}")
    err = run_error([*TINY, "--out", str(out)], capsys)
    assert "argument --out" in err and "is not empty" in err and "--overwrite" in err
    assert (out / "results.json").read_text() == "{}"
    file = tmp_path / "file"
    file.write_text("x")
    assert "is a file, not a folder" in run_error(["--out", str(file)], capsys)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--steps", "0"], "argument --steps: expected a positive int"),
        (["--batch-size", "-2"], "argument --batch-size: expected a positive int"),
        (["--num-points", "0"], "argument --num-points: expected a positive int"),
        (["--num-clouds", "many"], "argument --num-clouds: expected a positive int"),
        (["--test-clouds", "0"], "argument --test-clouds: expected a positive int"),
        (["--dim", "1.5"], "argument --dim: expected a positive int"),
        (["--hypernet-hidden", "16", "0"], "argument --hypernet-hidden: expected a positive"),
        (["--lr", "0"], "argument --lr: expected a positive number"),
        (["--lr", "nan"], "argument --lr: expected a positive number"),
        (["--seed", "-1"], "argument --seed: expected a non-negative int"),
        (["--test-fraction", "1"], "argument --test-fraction: expected a number with 0 < F < 1"),
        (["--test-fraction", "0.5"], "argument --test-fraction: applies to --data only"),
        (["--data", "{missing}"], "argument --data: '{missing}' does not exist"),
        (["--data", "{empty}"], "argument --data: load_point_clouds: the directory {empty} has"),
        (["--data", "{one}"], "argument --data: '{one}' holds 1 cloud; at least 2"),
        (["--data", "{one}", "--num-clouds", "3"], "argument --num-clouds: applies to the shapes"),
        (["--data", "{one}", "--num-points", "11"], "argument --data: load_point_clouds: "),
        (["--device", "teapot"], "argument --device: 'teapot' is not a torch device"),
        (["--steps"], "argument --steps: expected one argument"),
    ],
)
def test_bad_arguments_name_the_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    paths = {"{missing}": tmp_path / "missing", "{empty}": tmp_path / "empty",
             "{one}": tmp_path / "one.npy"}
    paths["{empty}"].mkdir()
    (paths["{empty}"] / "notes.txt").write_text("no clouds here")
    np.save(paths["{one}"], np.zeros((10, 3)))
    for key, path in paths.items():
        argv = [a.replace(key, str(path)) for a in argv]
        expected = expected.replace(key, str(path))
    out = tmp_path / "run"
    err = run_error([*argv, "--out", str(out)], capsys)
    assert expected in err, err
    assert "usage: hyperfunc-pointclouds" in err
    assert not out.exists()  # nothing was written


def test_python_dash_m(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["hyperfunc-pointclouds", "--help"])
    # as `python -m` does: the package's __main__ is not imported yet (else runpy warns)
    monkeypatch.delitem(sys.modules, "hyperfunc_pointclouds.__main__")
    with pytest.raises(SystemExit) as info:
        runpy.run_module("hyperfunc_pointclouds", run_name="__main__")
    assert info.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--data", "--steps", "--lr", "--batch-size", "--num-clouds", "--num-points",
                   "--seed", "--out", "--overwrite", "--no-progress"):
        assert option in help_text
