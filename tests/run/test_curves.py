"""Learning curves from ``metrics.jsonl``: the steps counted over phases, the evaluations as points."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hyperfunc.run import Phase, RunConfig, plot_curves, train
from hyperfunc.run._curves import _series

RECORDS = [
    {"phase": "task 0", "step": 5, "loss": 2.0, "acc": 0.5, "lr": 0.1, "seconds": 1.0},
    {"phase": "task 0", "step": 10, "loss": 1.0, "acc": 0.7, "lr": 0.1, "seconds": 2.0},
    {"event": "evaluation", "phase": "task 0", "steps": 12, "mean_accuracy": 0.9, "accuracy": [0.9]},
    {"phase": "task 1", "step": 5, "loss": 3.0, "acc": 0.4, "lr": 0.1, "seconds": 3.0},
    {"event": "evaluation", "phase": "task 1", "steps": 12, "mean_accuracy": 0.8, "flag": True},
    {"event": "resumed", "phase": "task 1", "loss": 99.0},
]


def test_steps_run_on_over_phases_and_evaluations_are_their_own_panels() -> None:
    series, phases = _series(RECORDS)
    assert phases == [(0, "task 0"), (12, "task 1")]  # task 0 lasted 12 steps (its evaluation says)
    assert series == {
        "loss": ([5, 10, 17], [2.0, 1.0, 3.0]),
        "acc": ([5, 10, 17], [0.5, 0.7, 0.4]),
        "mean_accuracy (evaluation)": ([12, 24], [0.9, 0.8]),
    }  # lr, seconds, lists, booleans and other events are left out


def test_plot_writes_a_png_and_nothing_without_matplotlib(
    tmp_path: Path, hide_matplotlib: Callable[[], None]
) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    assert plot_curves(metrics, tmp_path / "curves.png", title="HNET") == tmp_path / "curves.png"
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hide_matplotlib()
    assert plot_curves(metrics, tmp_path / "again.png") is None
    assert not (tmp_path / "again.png").exists()


def test_pictures_leave_pyplot_alone(tmp_path: Path) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    backend = plt.get_backend()
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    plot_curves(metrics, tmp_path / "curves.png")
    assert plt.get_fignums() == [] and plt.get_backend() == backend


def test_nothing_logged_draws_nothing(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text("")
    assert plot_curves(tmp_path / "metrics.jsonl", tmp_path / "curves.png") is None


class Line(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        loss = (self.w * x - y).pow(2).mean()
        return loss, {"mse": float(loss.detach())}


def test_every_run_with_a_folder_draws_its_curves(tmp_path: Path) -> None:
    def batch(step: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(8, generator=g)
        return x, 3 * x

    config = RunConfig(steps=40, lr=0.1, progress=False, log_every=2)
    train(Line(), [Phase("fit", batch)], config, out=tmp_path / "run")
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"
