"""run_fewshot (checkpoints, resume, time limit, results) and `hyperfunc run` for few-shot methods."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import hyperfunc as hf
from hyperfunc._cli import main
from hyperfunc.fewshot import Episodes, FewShotConfig, HyperMAML, ProtoNets, run_fewshot
from hyperfunc.run import CheckpointMismatchError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _samplers() -> tuple[Episodes, Episodes]:
    data = torch.randn(20, 8, 6, generator=torch.Generator().manual_seed(0))
    train = Episodes(data[:12], n_way=3, k_shot=1, q_query=2, batch_size=4, seed=0)
    test = Episodes(data[12:], n_way=3, k_shot=1, q_query=2, batch_size=10, seed=1)
    return train, test


def _method() -> HyperMAML:
    torch.manual_seed(0)
    return HyperMAML(hf.stateless(hf.targets.mlp(6, 8, hidden=(16,))), n_way=3, k_shot=1, feature_dim=8,
                     hidden=(16,), warmup_steps=4)


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    train, test = _samplers()
    config = FewShotConfig(steps=6, lr=1e-2, lr_schedule="cosine", test_episodes=20, checkpoint_every=3,
                           progress=False)
    whole = _method()
    ref = run_fewshot(whole, train, test, config, out=tmp_path / "a")

    broken = _method()
    calls = {"n": 0}
    real_loss = broken.loss

    def failing_loss(batch: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 5:  # after the checkpoint at step 3
            raise RuntimeError("killed")
        return real_loss(batch)

    broken.loss = failing_loss  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="killed"):
        run_fewshot(broken, train, test, config, out=tmp_path / "b")
    assert not (tmp_path / "b" / "results.json").exists()
    resumed = _method()
    got = run_fewshot(resumed, train, test, config, out=tmp_path / "b", resume=True)
    for (n, p), q in zip(whole.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(p, q, msg=n)
    assert int(resumed.steps_done) == 6  # the warm-up counter came back with the checkpoint
    assert got["test_mean"] == ref["test_mean"] and got["steps_done"] == ref["steps_done"] == 6
    saved = json.loads((tmp_path / "b" / "results.json").read_text())
    assert saved["test_episodes"] == 20 and saved["metric"] == "accuracy"
    assert 0.0 <= saved["test_mean"] <= 1.0 and saved["method_settings"]["warmup_steps"] == 4

    with pytest.raises(CheckpointMismatchError, match=r"config: checkpoint"):
        run_fewshot(_method(), train, test, FewShotConfig(steps=6, lr=1e-3, checkpoint_every=3),
                    out=tmp_path / "b", resume=True)


def test_time_limit_stops_training_and_is_recorded() -> None:
    train, test = _samplers()
    net = ProtoNets(hf.stateless(hf.targets.mlp(6, 8, hidden=(16,))))
    summary = run_fewshot(net, train, test, FewShotConfig(steps=10**6, time_limit=0.002,
                                                          test_episodes=10, progress=False))
    assert summary["stopped_by_time_limit"] and 0 < summary["steps_done"] < 10**6
    assert summary["seconds"] < 10.0


def test_config_and_input_errors() -> None:
    with pytest.raises(ValueError, match="device='gpu0' .*not a torch device"):
        FewShotConfig(device="gpu0")
    with pytest.raises(ValueError, match="steps"):
        FewShotConfig(steps=0)
    train, test = _samplers()
    with pytest.raises(TypeError, match="needs a FewShotMethod, got Linear"):
        run_fewshot(torch.nn.Linear(2, 2), train, test)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the CLI
def test_cli_runs_hypermaml_on_omniglot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["run", "--method", "hypermaml", "--tasks", "omniglot", "--target", "conv4", "--data", str(DATA),
            "--task-arg", "n_way=3", "--task-arg", "q_query=2", "--task-arg", "rotations=false",
            "--test-task-arg", "q_query=4", "--target-arg", "hidden=8", "--method-arg", "hidden=[16]",
            "--batch-size", "2", "--steps", "3", "--test-episodes", "5", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["identity"]["method_name"] == "hypermaml" and data["method_settings"]["feature_dim"] == 8
    assert data["method_settings"]["n_way"] == 3 and data["method_settings"]["k_shot"] == 1
    assert data["test_episodes"] == 5 and data["steps_done"] == 3  # exactly as asked (3 batches of 2, cut)
    assert "omniglot-evaluation" in data["identity"]["test"] and "q_query=4" not in data["identity"]["train"]
    assert "HyperMAML: test accuracy" in capsys.readouterr().out
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_cli_runs_maml_on_sinusoids(tmp_path: Path) -> None:
    out = tmp_path / "maml"
    assert main(["run", "--method", "maml", "--tasks", "sinusoid", "--target", "mlp",
                 "--target-arg", "hidden=[16]", "--method-arg", "inner_lr=0.01", "--steps", "3",
                 "--test-episodes", "30", "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["metric"] == "mse" and data["method_settings"]["loss"] == "mse"
    assert data["test_episodes"] == 30  # exactly as asked, though the sampler draws 25 per batch


def test_cli_few_shot_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for method in ("hypershot", "protonets"):  # classifiers on a regression task: refused before any step
        assert main(["run", "--method", method, "--tasks", "sinusoid", "--out", str(tmp_path / "a")]) == 2
        err = capsys.readouterr().err
        assert f"{method} classifies N-way episodes and task 'sinusoid' is regression" in err
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "a").exists()
    assert main(["run", "--method", "protonets", "--tasks", "split-digits",
                 "--out", str(tmp_path / "b")]) == 2
    assert "not a few-shot sampler" in capsys.readouterr().err
    assert {"maml", "protonets", "hypermaml", "hypershot"} <= set(hf.methods.names())


def test_cli_runs_imaml_and_checkpointed_maml(tmp_path: Path) -> None:
    base = ["run", "--method", "maml", "--tasks", "sinusoid", "--target", "mlp",
            "--target-arg", "hidden=[16]",
            "--method-arg", "inner_lr=0.01", "--method-arg", "inner_steps=3", "--steps", "3",
            "--test-episodes", "10", "--no-progress"]
    assert main([*base, "--method-arg", "implicit=1.0", "--method-arg", "cg_steps=5",
                 "--out", str(tmp_path / "imaml")]) == 0
    settings = json.loads((tmp_path / "imaml" / "results.json").read_text())["method_settings"]
    assert settings["implicit"] == 1.0 and settings["cg_steps"] == 5
    assert main([*base, "--method-arg", "checkpoint=true", "--method-arg", "truncate=2",
                 "--out", str(tmp_path / "ckpt")]) == 0
    assert main([*base, "--method-arg", "implicit=0", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_cli_runs_hypermaml_on_sinusoids_with_its_defaults(tmp_path: Path) -> None:
    """An mlp backbone gets a default feature size; regression sets n_way to the outputs."""
    out = tmp_path / "hypermaml"
    assert main(["run", "--method", "hypermaml", "--tasks", "sinusoid", "--steps", "2",
                 "--test-episodes", "4", "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["metric"] == "mse" and data["test_episodes"] == 4
