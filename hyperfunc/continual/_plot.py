"""PNG figures of an accuracy matrix: a heatmap and one curve per task."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperfunc.continual._metrics import AccuracyMatrix
from hyperfunc.run import atomic_write

__all__ = ["plot_matrix"]


def plot_matrix(matrix: AccuracyMatrix, path: Path, title: str = "") -> Path | None:
    """Draw ``R`` as a heatmap and each task's accuracy over time; ``None`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    r = 100 * matrix.values
    n = matrix.num_tasks
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
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
    try:
        atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(fig)
    return path
