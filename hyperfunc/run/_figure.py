"""Pictures in run folders: matplotlib figures outside pyplot, written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hyperfunc.run._folder import atomic_write

__all__ = ["new_figure", "save_figure"]


def new_figure(**kwargs: Any) -> Any | None:
    """A matplotlib ``Figure(**kwargs)`` drawn by the Agg canvas, or ``None`` without matplotlib.

    The figure lives outside pyplot: your backend, your open figures and a notebook's
    inline output are untouched, and nothing needs closing. Every picture hyperfunc
    draws is optional (``pip install 'torch-hyperfunc[plot]'``): a plotting function
    returns ``None`` when this does.

    Examples:
        >>> import tempfile, pathlib
        >>> from hyperfunc.run import new_figure, save_figure
        >>> fig = new_figure(figsize=(3, 2))
        >>> if fig is not None:
        ...     ax = fig.subplots()
        ...     _ = ax.plot([0, 1], [1, 0])
        ...     out = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "line.png")
        ...     assert out.read_bytes()[:4] == b"\\x89PNG"
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write the matplotlib figure ``fig`` as the PNG file ``path``; returns the path.

    Through :func:`~hyperfunc.run.atomic_write` (a temporary file, then a rename), so a
    picture in a run folder is never half-written; missing folders are created. See
    :func:`new_figure` for an example.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    return out
