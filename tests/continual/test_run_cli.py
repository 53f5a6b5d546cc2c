import json
from pathlib import Path

import pytest

from hyperfunc._cli import main


def test_run_writes_results_and_refuses_existing_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = [
        "run",
        "--method",
        "hnet",
        "--tasks",
        "split-digits",
        "--target",
        "mlp",
        "--steps",
        "30",
        "--target-arg",
        "hidden=[16]",
        "--method-arg",
        "emb_dim=8",
        "--method-arg",
        'hypernet_args={"chunk_size": 128, "hidden": [16]}',
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(args) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["identity"]["method_name"] == "hnet" and len(data["R"]) == 5
    assert data["identity"]["target_args"] == {"hidden": [16]} and data["settings"]["steps"] == 30
    assert all((out / f).exists() for f in ("accuracy.png", "checkpoint.pt", "model.pt"))
    assert "after task 4:" in capsys.readouterr().out
    assert main(args) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0  # complete run: nothing left to train
    changed = [a if a != "emb_dim=8" else "emb_dim=4" for a in args]
    assert main([*changed, "--resume"]) == 2
    assert "from another run" in capsys.readouterr().err


def test_run_unknown_names_and_bad_args(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--method", "hnett", "--out", str(tmp_path / "a")]) == 2
    assert "Did you mean 'hnet'?" in capsys.readouterr().err
    assert main(["run", "--tasks", "split-mnist", "--data", str(tmp_path), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "can't find mnist" in err and "HYPERFUNC_DATA" in err
    assert main(["run", "--target-arg", "nonsense", "--out", str(tmp_path / "c")]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["run", "--target-arg", "depth=3", "--steps", "1", "--out", str(tmp_path / "d")]) == 2
    assert "takes no argument(s) depth" in capsys.readouterr().err
