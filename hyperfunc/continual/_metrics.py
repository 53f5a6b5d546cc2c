"""Continual-learning metrics from the accuracy matrix ``R[i, j]``."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["AccuracyMatrix"]


class AccuracyMatrix:
    """``R[i, j]``: accuracy on task ``j`` after training task ``i`` (NaN where not measured).

    Examples:
        >>> from hyperfunc.continual import AccuracyMatrix
        >>> r = AccuracyMatrix(2)
        >>> r.record(0, [0.9])
        >>> r.record(1, [0.8, 0.95])
        >>> round(r.average_accuracy(), 3), round(r.backward_transfer(), 3), round(r.forgetting(), 3)
        (0.875, -0.1, 0.1)
    """

    def __init__(self, num_tasks: int, values: np.ndarray | None = None) -> None:
        self.num_tasks = num_tasks
        self.values = np.full((num_tasks, num_tasks), np.nan) if values is None else values

    def record(self, after: int, accuracies: list[float]) -> None:
        """Store row ``after``: accuracies on tasks ``0..len(accuracies)-1``."""
        self.values[after, : len(accuracies)] = accuracies

    @property
    def completed(self) -> int:
        """Number of rows recorded."""
        return int((~np.isnan(self.values[:, 0])).sum())

    def _last(self) -> int:
        if self.completed == 0:
            raise ValueError("no task has been evaluated yet")
        return self.completed - 1

    def average_accuracy(self) -> float:
        """Mean accuracy over all tasks seen so far, after the last trained task."""
        t = self._last()
        return float(np.mean(self.values[t, : t + 1]))

    def backward_transfer(self) -> float:
        """``mean_j R[T, j] − R[j, j]`` over earlier tasks (negative = forgetting)."""
        t = self._last()
        if t == 0:
            return 0.0
        return float(np.mean([self.values[t, j] - self.values[j, j] for j in range(t)]))

    def forgetting(self) -> float:
        """``mean_j max_{i<T} R[i, j] − R[T, j]`` over earlier tasks."""
        t = self._last()
        if t == 0:
            return 0.0
        return float(np.mean([np.nanmax(self.values[j:t, j]) - self.values[t, j] for j in range(t)]))

    def summary(self) -> dict[str, Any]:
        """The matrix and its metrics as JSON-ready data (percentages are not applied)."""
        return {
            "R": [[None if np.isnan(v) else float(v) for v in row] for row in self.values],
            "average_accuracy": self.average_accuracy(),
            "backward_transfer": self.backward_transfer(),
            "forgetting": self.forgetting(),
        }

    def to_json(self) -> str:
        """:meth:`summary` as a JSON string."""
        return json.dumps(self.summary(), indent=2)

    def table(self) -> str:
        """A text table of ``R`` in percent, with the summary metrics."""
        n = self.num_tasks
        head = "after \\ on " + "".join(f"{j:>7}" for j in range(n))
        rows = [head]
        for i in range(self.completed):
            cells = "".join(f"{100 * v:7.2f}" if not np.isnan(v) else "      ." for v in self.values[i])
            rows.append(f"task {i:<6}" + cells)
        rows.append(
            f"average accuracy {100 * self.average_accuracy():.2f} %, backward transfer "
            f"{100 * self.backward_transfer():+.2f} points, forgetting "
            f"{100 * self.forgetting():.2f} points"
        )
        return "\n".join(rows)
