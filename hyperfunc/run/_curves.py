"""Learning curves: every number a run logged in ``metrics.jsonl``, against the step, as one PNG."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from hyperfunc.run._figure import new_figure, save_figure

__all__ = ["CURVES", "plot_curves"]

#: The learning curves' file in a run folder.
CURVES = "curves.png"

_SKIP = {"step", "steps", "seconds", "lr"}
_PANELS = 8


def _numbers(record: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in record.items()
        if k not in _SKIP and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _series(
    records: list[dict[str, Any]],
) -> tuple[dict[str, tuple[list[float], list[float]]], list[tuple[float, str]]]:
    """``{panel: (global steps, values)}`` and ``[(global step where a phase starts, its name)]``."""
    ends: dict[str, int] = {}  # each phase's length: its evaluation's "steps", else its last logged step
    order: list[str] = []
    for r in records:
        phase = str(r.get("phase", "run"))
        if phase not in ends:
            order.append(phase)
            ends[phase] = 0
        ends[phase] = max(ends[phase], int(r.get("steps", r.get("step", 0)) or 0))
    offsets, total = {}, 0
    for phase in order:
        offsets[phase], total = total, total + ends[phase]
    series: dict[str, tuple[list[float], list[float]]] = {}
    for r in records:
        phase = str(r.get("phase", "run"))
        evaluation = r.get("event") == "evaluation"
        if r.get("event") not in (None, "evaluation"):
            continue
        x = offsets[phase] + int(r.get("steps" if evaluation else "step", 0) or 0)
        for key, value in _numbers(r).items():
            xs, ys = series.setdefault(f"{key} (evaluation)" if evaluation else key, ([], []))
            xs.append(x)
            ys.append(value)
    return series, [(offsets[p], p) for p in order]


def plot_curves(
    metrics: str | os.PathLike[str], path: str | os.PathLike[str], title: str = ""
) -> Path | None:
    """Draw a run's ``metrics.jsonl`` as learning curves in the PNG file ``path``.

    One panel per logged number (the loss and each of the method's logs, then each
    evaluation's numbers as points), against the step counted over all phases; phase
    boundaries are dashed lines. Noisy training curves get a moving average on top
    of the raw values. :func:`~hyperfunc.run.train` calls this at the end of every
    run that has a folder, writing ``curves.png``; call it yourself to redraw one.

    Returns:
        ``path``, or ``None`` when matplotlib is not installed or nothing was logged.

    Examples:
        >>> import json, tempfile, pathlib
        >>> from hyperfunc.run import plot_curves
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> lines = [{"phase": "train", "step": s, "loss": 1 / s} for s in range(1, 50)]
        >>> _ = (folder / "metrics.jsonl").write_text("\\n".join(map(json.dumps, lines)))
        >>> plot_curves(folder / "metrics.jsonl", folder / "curves.png").name
        'curves.png'
    """
    records = [json.loads(line) for line in Path(metrics).read_text(encoding="utf-8").splitlines() if line]
    series, phases = _series(records)
    if not series:
        return None
    keys = list(series)[:_PANELS]
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = new_figure(figsize=(4.2 * cols, 3.0 * rows))
    if fig is None:
        return None
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        xs, ys = series[key]
        if key.endswith("(evaluation)"):
            ax.plot(xs, ys, marker="o", color="C1")
        elif len(ys) > 30:
            width = max(2, len(ys) // 20)
            smooth = [
                sum(ys[max(0, i - width + 1) : i + 1]) / len(ys[max(0, i - width + 1) : i + 1])
                for i in range(len(ys))
            ]
            ax.plot(xs, ys, color="C0", alpha=0.3, linewidth=0.8)
            ax.plot(xs, smooth, color="C0")
        else:
            ax.plot(xs, ys, color="C0", marker="." if len(ys) < 10 else None)
        if min(ys) > 0 and max(ys) / min(ys) > 100:
            ax.set_yscale("log")
        for start, _ in phases[1:]:
            ax.axvline(start, color="grey", linestyle="--", linewidth=0.6)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    if 1 < len(phases) <= 12:
        title = f"{title}{' — ' if title else ''}phases: {', '.join(name for _, name in phases)}"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
