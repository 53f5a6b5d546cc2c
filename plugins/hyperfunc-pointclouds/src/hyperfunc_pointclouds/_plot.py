"""PNG grids of 3-D scatter plots of point clouds (matplotlib, optional)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from hyperfunc.run import atomic_write
from torch import Tensor

from hyperfunc_pointclouds._checks import point_problems, require_float_tensor

__all__ = ["plot_clouds"]

# one colour per row, so inputs and reconstructions are told apart at a glance
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def plot_clouds(
    rows: Mapping[str, Tensor],
    path: str | os.PathLike[str],
    *,
    titles: Sequence[str] | None = None,
    point_size: float = 2.0,
    dpi: int = 100,
) -> Path | None:
    """Save a PNG grid of 3-D scatter plots: one row per entry of ``rows``, one column per cloud.

    Typical rows are ``{"input": clouds, "reconstruction": model.reconstruct(clouds, n)}``.
    Row ``r`` shows the clouds of ``rows``'s ``r``-th value ``[N, P, 3]`` (rows may
    have different ``N`` and ``P``; missing cells are left blank), labelled with
    its key. All cells of a column share the same axis limits and an equal aspect
    ratio, so the clouds of a column are directly comparable. The figure is drawn
    with matplotlib's Agg backend, without pyplot (the caller's backend and open
    figures are untouched), and written atomically with
    :func:`hyperfunc.run.atomic_write`: to a temporary file in the same folder,
    then renamed onto ``path``.

    Args:
        rows: ``{label: clouds [N, P, 3]}``, at least one entry, ``N, P >= 1``,
            finite coordinates (any float dtype, any device).
        path: the PNG file to write; its folder must exist.
        titles: column titles (at most one per column), e.g. the shape kinds.
        point_size: marker area of the scatter points.
        dpi: resolution of the PNG.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, or ``None`` (and nothing written)
        when matplotlib is not installed (``pip install "hyperfunc-pointclouds[plot]"``).

    Raises:
        TypeError: a value of ``rows`` is not a floating-point tensor.
        ValueError: ``rows`` is empty, or a value is not ``[N, P, 3]`` with finite
            coordinates, or there are more ``titles`` than columns.
        FileNotFoundError: the folder of ``path`` does not exist.

    Examples:
        >>> import pathlib, tempfile
        >>> from hyperfunc_pointclouds import plot_clouds, shapes
        >>> data = shapes(3, 200)
        >>> png = pathlib.Path(tempfile.mkdtemp()) / "clouds.png"
        >>> written = plot_clouds({"input": data.points}, png, titles=data.kinds[:3])
        >>> written is None or written.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    where = "plot_clouds"
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError(
            f"{where}: rows must be a non-empty mapping {{label: clouds [N, P, 3]}}, got {rows!r}"
        )
    clouds: dict[str, Tensor] = {}
    for label, value in rows.items():
        name = f"rows[{label!r}]"
        x = require_float_tensor(where, name, value)
        problems = point_problems(name, x, batch_ndim=1)
        if not problems and x.shape[0] == 0:
            problems = [f"{name}: holds no clouds (shape {list(x.shape)})"]
        if problems:
            raise ValueError(f"{where}: {problems[0]}")
        clouds[str(label)] = x.detach().to(device="cpu", dtype=torch.float64)
    columns = max(x.shape[0] for x in clouds.values())
    names = [] if titles is None else [str(t) for t in titles]
    if len(names) > columns:
        raise ValueError(
            f"{where}: {len(names)} titles for {columns} column(s); pass at most one per column"
        )
    if isinstance(point_size, bool) or not isinstance(point_size, (int, float)) or point_size <= 0:
        raise ValueError(f"{where}: point_size must be a positive number, got {point_size!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
        raise ValueError(f"{where}: dpi must be a positive int, got {dpi!r}")
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{where}: the folder {str(folder)!r} of path does not exist; create it first"
        )
    try:
        import matplotlib  # noqa: F401  (the package itself first: absent or blocked ends here)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None

    # per column: a cube centred on all of the column's points, big enough for every row
    centres, radii = [], []
    for c in range(columns):
        pts = torch.cat([x[c] for x in clouds.values() if c < x.shape[0]])
        lo, hi = pts.min(0).values, pts.max(0).values
        centres.append(((lo + hi) / 2).tolist())
        radii.append(max(float((hi - lo).max()) / 2, 1e-6) * 1.05)

    n_rows = len(clouds)
    fig = Figure(figsize=(2.2 * columns + 0.4, 2.3 * n_rows))
    FigureCanvasAgg(fig)
    for r, (label, x) in enumerate(clouds.items()):
        for c in range(columns):
            # an mplot3d Axes3D (registered by matplotlib itself for projection="3d")
            ax: Any = fig.add_subplot(n_rows, columns, r * columns + c + 1, projection="3d")
            if c >= x.shape[0]:
                ax.set_axis_off()
                continue
            p = x[c].numpy()
            ax.scatter(
                p[:, 0], p[:, 1], p[:, 2], s=point_size, c=_COLOURS[r % len(_COLOURS)],
                depthshade=True, linewidths=0,
            )
            (cx, cy, cz), h = centres[c], radii[c]
            ax.set_xlim(cx - h, cx + h)
            ax.set_ylim(cy - h, cy + h)
            ax.set_zlim(cz - h, cz + h)
            ax.set_box_aspect((1.0, 1.0, 1.0))
            ax.set_xticklabels([])
            ax.set_yticklabels([])
            ax.set_zticklabels([])
            if r == 0 and c < len(names):
                ax.set_title(names[c], fontsize=9)
            if c == 0:
                ax.text2D(
                    -0.08, 0.5, label, transform=ax.transAxes, rotation=90, va="center",
                    ha="center", fontsize=9,
                )
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.01, top=0.93, wspace=0.02, hspace=0.05)

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=dpi)

    atomic_write(target, write)  # hyperfunc.run's: a temporary file, then os.replace
    return target
