"""A PNG of one few-shot episode and a method's predictions on it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor

from hyperfunc.fewshot._batch import EpisodeBatch
from hyperfunc.fewshot._method import Batch, FewShotMethod
from hyperfunc.fewshot._sinusoid import SinusoidBatch
from hyperfunc.run import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_episode", "episode_figure", "drawable"]

#: Support examples drawn per class (rows), and query examples drawn per class.
MAX_SHOTS = 5
MAX_QUERIES = 3
#: Title colours of a query drawn with a right and a wrong predicted class.
RIGHT, WRONG = "green", "red"
#: Points of the grid a regression prediction is drawn on.
GRID = 200


def drawable(batch: Batch, regression: bool) -> bool:
    """Whether :func:`plot_episode` draws ``batch``: image episodes, or sinusoid tasks (regression)."""
    if regression:  # a SinusoidBatch: the only regression batch (EpisodeBatch labels are int64)
        shapes = tuple(batch.x_support.shape[2:]), tuple(batch.y_support.shape[2:])
        return isinstance(batch, SinusoidBatch) and shapes == ((1,), (1,))
    shape = tuple(batch.x_support.shape[2:])
    return isinstance(batch, EpisodeBatch) and (len(shape) == 2 or (len(shape) == 3 and shape[0] in (1, 3)))


def plot_episode(
    method: FewShotMethod,
    batch: Batch,
    path: str | os.PathLike[str],
    *,
    episode: int = 0,
    title: str | None = None,
) -> Path | None:
    """Draw episode ``episode`` of ``batch`` with ``method``'s predictions and save it as a PNG.

    For N-way classification of images (``[C, H, W]`` with 1 or 3 channels, or
    ``[H, W]``) there is one column per class: the support images (up to 5 rows,
    the first titled ``class c``), then up to 3 query images of that class, each
    titled with the class the method predicts, green if right and red if wrong.
    For sinusoid regression (a :class:`~hyperfunc.fewshot.SinusoidBatch`, whose
    amplitude and phase give the true curve) it draws the support and query
    points, the true curve ``A sin(x − φ)``, and the method's prediction, adapted
    to the support set, on a grid spanning the points. Other tasks (vector inputs,
    say) have nothing natural to draw: nothing is written. The suptitle names the
    method (or ``title``) and gives the episode's accuracy over all its queries
    (or their mean squared error).

    The method predicts in eval mode (its mode is restored afterwards), without
    a graph, on that one episode, moved to the method's device; the same method
    and batch give the same picture. The file is written atomically.

    Args:
        method: a trained :class:`~hyperfunc.fewshot.FewShotMethod`.
        batch: a meta-batch (an :class:`~hyperfunc.fewshot.EpisodeBatch` or a
            :class:`~hyperfunc.fewshot.SinusoidBatch`).
        path: the PNG to write (missing folders are created).
        episode: which episode of the batch to draw.
        title: the start of the suptitle; default the method's class name.

    Returns:
        ``path``, or ``None`` when nothing was written: matplotlib is not installed
        (``pip install torch-hyperfunc[plot]``) or the task is neither images nor
        sinusoid regression.
    """
    if not drawable(batch, method.regression):
        return None
    if new_figure() is None:  # no matplotlib
        return None
    fig = episode_figure(method, batch, episode=episode, title=title)
    return save_figure(fig, path)


def episode_figure(
    method: FewShotMethod, batch: Batch, *, episode: int = 0, title: str | None = None
) -> Figure:
    """The figure :func:`plot_episode` saves (needs matplotlib; outside pyplot, nothing to close)."""
    if not drawable(batch, method.regression):
        raise ValueError(
            f"plot_episode draws image episodes or sinusoid tasks; this {type(batch).__name__} has "
            f"examples of shape {tuple(batch.x_support.shape[2:])}"
        )
    if not 0 <= episode < batch.num_tasks:
        raise ValueError(f"episode must be in 0..{batch.num_tasks - 1} (the batch's episodes), got {episode}")
    one = _episode(batch, episode)
    name = type(method).__name__ if title is None else title
    if isinstance(one, SinusoidBatch):
        return _regression_figure(method, one, name)
    assert isinstance(one, EpisodeBatch)
    return _images_figure(one, _predict(method, one)[0], name)


def _episode(batch: Batch, i: int) -> Batch:
    """Episode ``i`` of ``batch`` as a batch of one."""
    s = slice(i, i + 1)
    if isinstance(batch, SinusoidBatch):
        return SinusoidBatch(batch.x_support[s], batch.y_support[s], batch.x_query[s], batch.y_query[s],
                             batch.amplitude[s], batch.phase[s])
    classes = None if batch.classes is None else batch.classes[s]
    return EpisodeBatch(batch.x_support[s], batch.y_support[s], batch.x_query[s], batch.y_query[s],
                        batch.n_way, classes)


def _predict(method: FewShotMethod, batch: Batch) -> Tensor:
    """``method.predict(batch)`` in eval mode without a graph, on the method's device, back on the CPU."""
    device = next(iter(method.parameters())).device
    was_training = method.training
    method.eval()
    try:
        with torch.no_grad():
            return method.predict(batch.to(device)).detach().cpu()
    finally:
        method.train(was_training)


def _figure(**kwargs: Any) -> Figure:
    fig = new_figure(**kwargs)
    if fig is None:
        raise ImportError("drawing an episode needs matplotlib: pip install 'torch-hyperfunc[plot]'")
    return cast("Figure", fig)


def _images_figure(batch: EpisodeBatch, logits: Tensor, name: str) -> Figure:
    n = batch.n_way
    ys, yq = batch.y_support[0], batch.y_query[0]
    predicted = logits.argmax(-1)
    right = predicted == yq
    support = [(ys == c).nonzero().flatten()[:MAX_SHOTS].tolist() for c in range(n)]
    query = [(yq == c).nonzero().flatten()[:MAX_QUERIES].tolist() for c in range(n)]
    shots, queries = max(map(len, support)), max(map(len, query))
    images = torch.cat([batch.x_support[0], batch.x_query[0]]).float()
    lo, hi = float(images.min()), float(images.max())
    fig = _figure(figsize=(1.25 * n + 0.8, 1.3 * (shots + queries) + 0.7))
    axes = fig.subplots(shots + queries, n, squeeze=False)
    for c in range(n):
        cells: list[tuple[Tensor, str, str] | None] = [
            (batch.x_support[0, i], f"class {c}" if r == 0 else "", "black") for r, i in enumerate(support[c])
        ]
        cells += [None] * (shots - len(support[c]))
        cells += [(batch.x_query[0, i], f"pred {int(predicted[i])}", RIGHT if bool(right[i]) else WRONG)
                  for i in query[c]]
        cells += [None] * (queries - len(query[c]))
        for r, cell in enumerate(cells):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel("support" if r < shots else "query", fontsize=8)
            if cell is None:
                ax.set_frame_on(False)
                continue
            x, label, colour = cell
            img = x.detach().float().cpu()
            if img.dim() == 3 and img.shape[0] == 1:
                img = img[0]
            if img.dim() == 2:
                ax.imshow(img.numpy(), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            else:
                rgb = ((img - lo) / max(hi - lo, 1e-12)).permute(1, 2, 0)
                ax.imshow(rgb.numpy(), interpolation="nearest")
            ax.set_title(label, fontsize=8, color=colour)
    correct, total = int(right.sum()), int(right.numel())
    fig.suptitle(
        f"{name}: {n}-way test episode, accuracy {100 * correct / total:.0f} % ({correct}/{total} queries)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _regression_figure(method: FewShotMethod, batch: SinusoidBatch, name: str) -> Figure:
    xs, ys = batch.x_support[0, :, 0], batch.y_support[0, :, 0]
    xq, yq = batch.x_query[0, :, 0], batch.y_query[0, :, 0]
    points = torch.cat([xs, xq])
    lo, hi = float(points.min()), float(points.max())
    pad = 0.05 * (hi - lo) + 1e-3
    grid = torch.linspace(lo - pad, hi + pad, GRID, dtype=batch.x_query.dtype)
    # one prediction call: the query points, then the grid (the adapted weights do not depend on the queries)
    x_all = torch.cat([batch.x_query[0], grid[:, None]])[None]
    y_all = torch.cat([batch.y_query[0], torch.zeros(GRID, 1, dtype=batch.y_query.dtype)])[None]
    wide = SinusoidBatch(batch.x_support, batch.y_support, x_all, y_all, batch.amplitude, batch.phase)
    pred = _predict(method, wide)[0, :, 0]
    mse = float((pred[: len(xq)] - yq).pow(2).mean())
    truth = batch.amplitude[0] * (grid - batch.phase[0]).sin()
    fig = _figure(figsize=(6.5, 4))
    ax = fig.subplots()
    ax.plot(grid.numpy(), truth.numpy(), "k--", lw=1, label="true function")
    ax.plot(grid.numpy(), pred[len(xq) :].numpy(), color="tab:blue", lw=1.5, label="prediction (adapted)")
    ax.scatter(xq.numpy(), yq.numpy(), s=18, facecolors="none", edgecolors="tab:gray", label="query")
    ax.scatter(xs.numpy(), ys.numpy(), s=30, color="tab:red", zorder=3, label=f"support ({len(xs)})")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=8)
    fig.suptitle(f"{name}: test task, query MSE {mse:.3g}", fontsize=10)
    fig.tight_layout()
    return fig
