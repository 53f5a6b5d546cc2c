"""plot_episode: one test episode with a method's predictions, and the run folder's episode.png."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import hyperfunc as hf
from hyperfunc._cli import main
from hyperfunc.fewshot import (
    EpisodeBatch,
    Episodes,
    FewShotConfig,
    FewShotMethod,
    ProtoNets,
    Sinusoid,
    plot_episode,
    run_fewshot,
)
from hyperfunc.fewshot._plot import episode_figure

pytest.importorskip("matplotlib").use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")
to_rgba = pytest.importorskip("matplotlib.colors").to_rgba

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PNG = b"\x89PNG\r\n\x1a\n"


class Fixed(FewShotMethod):
    """Predicts the logits (or values) it is given; records the mode it predicted in."""

    def __init__(self, out: Tensor | None = None, *, loss: str = "cross_entropy") -> None:
        super().__init__(hf.stateless(nn.Linear(1, 1)), loss=loss)
        self.out = out
        self.modes: list[bool] = []

    def predict(self, batch: Any) -> Tensor:
        self.modes.append(self.training)
        if self.out is None:  # regression: y = 2x
            return 2 * batch.x_query
        return self.out[: batch.num_tasks] if batch.num_tasks == len(self.out) else self.out[1:2]


def _images_batch() -> EpisodeBatch:
    """Two 3-way 1-shot episodes of 4×4 images, two queries per class in a shuffled order."""
    g = torch.Generator().manual_seed(0)
    y_support = torch.tensor([[0, 1, 2], [2, 0, 1]])
    y_query = torch.tensor([[0, 0, 1, 1, 2, 2], [2, 0, 1, 0, 2, 1]])
    return EpisodeBatch(torch.rand(2, 3, 1, 4, 4, generator=g), y_support,
                        torch.rand(2, 6, 1, 4, 4, generator=g), y_query, n_way=3)


def test_titles_and_colours_follow_the_predictions() -> None:
    batch = _images_batch()
    predicted = torch.tensor([[0, 0, 1, 1, 2, 2], [0, 0, 2, 1, 2, 1]])  # episode 1: queries 0, 2, 3 wrong
    method = Fixed(10 * nn.functional.one_hot(predicted, 3).float())
    method.train()
    fig = episode_figure(method, batch, episode=1)
    try:
        assert method.modes == [False] and method.training  # predicted in eval mode, mode restored
        axes = [[fig.axes[3 * r + c] for c in range(3)] for r in range(3)]  # 1 support row, 2 query rows
        assert [ax.get_title() for ax in axes[0]] == ["class 0", "class 1", "class 2"]
        # column c holds the queries of true class c in their order: class 0 = queries 1, 3; class 1 = 2, 5;
        # class 2 = 0, 4; predictions 0, 1 | 2, 1 | 0, 2
        expected = [[("pred 0", "green"), ("pred 2", "red"), ("pred 0", "red")],
                    [("pred 1", "red"), ("pred 1", "green"), ("pred 2", "green")]]
        for r, row in enumerate(expected, start=1):
            for c, (label, colour) in enumerate(row):
                assert axes[r][c].get_title() == label
                assert to_rgba(axes[r][c].title.get_color()) == to_rgba(colour)
        # the query image in column 1, first query row, is query 2 of episode 1
        shown = axes[1][1].get_images()[0].get_array()
        assert torch.equal(torch.as_tensor(shown), batch.x_query[1, 2, 0])
        assert axes[0][0].get_ylabel() == "support" and axes[1][0].get_ylabel() == "query"
        assert fig.get_suptitle() == "Fixed: 3-way test episode, accuracy 50 % (3/6 queries)"
    finally:
        plt.close(fig)


def test_at_most_three_queries_per_class_are_drawn() -> None:
    g = torch.Generator().manual_seed(0)
    data = torch.rand(6, 9, 1, 5, 5, generator=g)
    batch = Episodes(data, n_way=2, k_shot=2, q_query=7, batch_size=1, seed=0).batch(0)
    method = Fixed(torch.zeros(1, 14, 2))  # every query predicted class 0
    fig = episode_figure(method, batch, title="zeros")
    try:
        assert len(fig.axes) == (2 + 3) * 2
        titles = [ax.get_title() for ax in fig.axes]
        assert titles[:2] == ["class 0", "class 1"] and titles[2:4] == ["", ""]  # second support row
        assert titles[4:] == ["pred 0", "pred 0"] * 3
        assert fig.get_suptitle().startswith("zeros: 2-way test episode, accuracy 50 % (7/14 queries)")
    finally:
        plt.close(fig)


def test_sinusoid_draws_the_support_the_true_curve_and_the_prediction() -> None:
    batch = Sinusoid(k_shot=5, q_query=4, batch_size=3, seed=0).batch(0)
    method = Fixed(loss="mse")
    fig = episode_figure(method, batch, episode=2)
    try:
        (ax,) = fig.axes
        lines = {line.get_label(): line for line in ax.get_lines()}
        x, y = (torch.as_tensor(lines["true function"].get_data()[i]) for i in (0, 1))
        assert torch.allclose(y, batch.amplitude[2] * (x - batch.phase[2]).sin(), atol=1e-6)
        px, py = (torch.as_tensor(lines["prediction (adapted)"].get_data()[i]) for i in (0, 1))
        assert torch.equal(py, 2 * px) and len(px) == 200
        support = [c for c in ax.collections if c.get_label() == "support (5)"]
        assert torch.equal(torch.as_tensor(support[0].get_offsets()).float(),
                           torch.cat([batch.x_support[2], batch.y_support[2]], 1))
        mse = float((2 * batch.x_query[2] - batch.y_query[2]).pow(2).mean())
        assert fig.get_suptitle() == f"Fixed: test task, query MSE {mse:.3g}"
    finally:
        plt.close(fig)


def test_vector_episodes_and_missing_matplotlib_write_nothing(
    tmp_path: Path, hide_matplotlib: Callable[[], None]
) -> None:
    vectors = Episodes(torch.randn(8, 4, 6), n_way=3, k_shot=1, q_query=2, batch_size=2).batch(0)
    assert plot_episode(Fixed(torch.zeros(2, 6, 3)), vectors, tmp_path / "v.png") is None
    batch = _images_batch()
    method = Fixed(torch.zeros(2, 6, 3))
    assert plot_episode(method, batch, tmp_path / "sub" / "a.png") == tmp_path / "sub" / "a.png"
    assert (tmp_path / "sub" / "a.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="episode must be in 0..1"):
        plot_episode(method, batch, tmp_path / "b.png", episode=2)
    hide_matplotlib()
    assert plot_episode(method, batch, tmp_path / "c.png") is None
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["a.png"]


def _image_samplers() -> tuple[Episodes, Episodes]:
    data = torch.rand(16, 5, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    return (Episodes(data[:10], n_way=3, k_shot=1, q_query=2, batch_size=2, seed=0),
            Episodes(data[10:], n_way=3, k_shot=1, q_query=3, batch_size=4, seed=1))


def _protonets() -> ProtoNets:
    torch.manual_seed(0)
    return ProtoNets(hf.stateless(nn.Sequential(nn.Flatten(), hf.targets.mlp(36, 8, hidden=(16,)))))


def test_run_folder_gets_the_first_test_episode_drawn_by_the_trained_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hide_matplotlib: Callable[[], None]
) -> None:
    train, test = _image_samplers()
    config = FewShotConfig(steps=3, test_episodes=4, progress=False)
    method = _protonets()
    run_fewshot(method, train, test, config, out=tmp_path / "a")
    picture = (tmp_path / "a" / "episode.png").read_bytes()
    assert picture[:8] == PNG
    assert plot_episode(method, test.batch(0), tmp_path / "direct.png") is not None
    assert (tmp_path / "direct.png").read_bytes() == picture  # episode 0 of test batch 0, trained weights
    run_fewshot(_protonets(), train, test, config, out=tmp_path / "b")
    assert (tmp_path / "b" / "episode.png").read_bytes() == picture  # the same run draws the same picture
    capsys.readouterr()
    hide_matplotlib()
    run_fewshot(_protonets(), train, test, config, out=tmp_path / "c")
    assert not (tmp_path / "c" / "episode.png").exists()
    assert "install matplotlib" in capsys.readouterr().out


@pytest.mark.skipif(not (DATA / "omniglot_28.npz").exists(), reason="Omniglot not in shared/data")
def test_cli_writes_episode_png_for_omniglot_and_sinusoids(tmp_path: Path) -> None:
    out = tmp_path / "omniglot"
    assert main(["run", "--method", "protonets", "--tasks", "omniglot", "--target", "conv4",
                 "--data", str(DATA), "--task-arg", "n_way=5", "--task-arg", "q_query=3",
                 "--task-arg", "rotations=false", "--target-arg", "hidden=8", "--batch-size", "2",
                 "--steps", "3", "--test-episodes", "2", "--out", str(out), "--no-progress"]) == 0
    assert (out / "episode.png").read_bytes()[:8] == PNG
    assert json.loads((out / "results.json").read_text())["steps_done"] == 3
    out = tmp_path / "sinusoid"
    assert main(["run", "--method", "maml", "--tasks", "sinusoid", "--target", "mlp",
                 "--target-arg", "hidden=[16]", "--steps", "2", "--test-episodes", "3",
                 "--out", str(out), "--no-progress"]) == 0
    assert (out / "episode.png").read_bytes()[:8] == PNG
