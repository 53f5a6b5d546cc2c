"""PNG figures of an accuracy matrix: a heatmap and one curve per task."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperfunc.continual._metrics import AccuracyMatrix
from hyperfunc.run import new_figure, save_figure

__all__ = ["plot_matrix"]


def plot_matrix(matrix: AccuracyMatrix, path: Path, title: str = "") -> Path | None:
    """Draw ``R`` as a heatmap and each task's accuracy over time; ``None`` without matplotlib."""
    fig = new_figure(figsize=(11, 4.5))
    if fig is None:
        return None
    r = 100 * matrix.values
    n = matrix.num_tasks
    ax1, ax2 = fig.subplots(1, 2)
    im = ax1.imshow(np.ma.masked_invalid(r), vmin=max(0.0, float(np.nanmin(r)) - 5), vmax=100, cmap="viridis")
    for i in range(n):
        for j in range(n):
            if not np.isnan(r[i, j]):
                ax1.text(j, i, f"{r[i, j]:.1f}", ha="center", va="center", fontsize=7, color="w")
    ax1.set_xlabel("evaluated on task j")
    ax1.set_ylabel("after training task i")
    ax1.set_title("accuracy R[i, j] (%)")
    fig.colorbar(im, ax=ax1, fraction=0.046)
    for j in range(n):
        rows = [i for i in range(n) if not np.isnan(r[i, j])]
        if rows:
            ax2.plot(rows, [r[i, j] for i in rows], marker="o", label=f"task {j}")
    ax2.set_xlabel("after training task i")
    ax2.set_ylabel("accuracy (%)")
    ax2.set_title("accuracy of each task over time")
    ax2.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
