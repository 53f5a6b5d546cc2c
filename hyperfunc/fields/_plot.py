"""PNG grids of images: ground truth vs reconstruction vs super-resolved renders."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

from hyperfunc.run import new_figure, save_figure

__all__ = ["save_grid"]


def save_grid(rows: Mapping[str, Tensor], path: str | Path, *, columns: int | None = None) -> Path | None:
    """Save one row per entry of ``rows`` (``[N, C, H, W]`` in [0, 1]; sizes may differ by row).

    Each row is labelled with its key; images are shown at their own resolution
    scaled to the same cell size, without interpolation, so a 28 × 28 input and a
    105 × 105 render can be compared side by side. The file is written atomically
    (a temporary file, then renamed; missing folders are created). Returns the path, or ``None`` if matplotlib
    is not installed (``pip install torch-hyperfunc[plot]``).
    """
    if not rows:
        raise ValueError("rows is empty; pass at least one {label: images} entry")
    for label, x in rows.items():
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"rows[{label!r}] must be [N, 1 or 3, H, W], got shape {list(x.shape)}")
    n = columns or min(len(x) for x in rows.values())
    fig = new_figure(figsize=(1.3 * n + 1.2, 1.35 * len(rows)))
    if fig is None:
        return None
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (label, x) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(x):
                img = x[c].detach().float().clamp(0, 1).cpu()
                if img.shape[0] == 1:
                    ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                else:
                    ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
