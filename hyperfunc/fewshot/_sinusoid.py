"""Sinusoid regression (Finn et al. 2017): every task is y = A sin(x − φ)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import attrs
import torch
from torch import Tensor

from hyperfunc.fewshot._checks import batch_generator, check_seed, check_sizes

__all__ = ["Sinusoid", "SinusoidBatch"]


@attrs.frozen(eq=False)
class SinusoidBatch:
    """``B`` sinusoid tasks: support and query points of ``y = amplitude · sin(x − phase)``.

    Has the four fields of :class:`~hyperfunc.fewshot.EpisodeBatch`, so code that
    adapts on the support set and scores the query set takes either.

    Attributes:
        x_support, y_support: ``[B, K, 1]``.
        x_query, y_query: ``[B, Q, 1]``.
        amplitude, phase: ``[B]``, each task's ``A`` and ``φ``.
    """

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor
    amplitude: Tensor
    phase: Tensor

    @property
    def num_tasks(self) -> int:
        """``B``, the number of tasks."""
        return int(self.x_support.shape[0])

    def to(self, device: torch.device | str) -> SinusoidBatch:
        """The same batch with every tensor moved to ``device``."""
        return SinusoidBatch(
            self.x_support.to(device),
            self.y_support.to(device),
            self.x_query.to(device),
            self.y_query.to(device),
            self.amplitude.to(device),
            self.phase.to(device),
        )


def _interval(name: str, value: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} must be a finite interval with low <= high, got {value!r}")
    return lo, hi


class Sinusoid:
    """Sinusoid regression as in MAML: y = A sin(x − φ), A ∈ [0.1, 5], φ ∈ [0, π], x ∈ [−5, 5].

    Tasks come ``batch_size`` at a time. Each task draws an amplitude
    ``A ~ U[0.1, 5]`` and a phase ``φ ~ U[0, π]``, then ``k_shot`` support and
    ``q_query`` query inputs ``x ~ U[−5, 5]`` independently, with targets
    ``y = A sin(x − φ)`` (no noise). As with :class:`Episodes`, meta-batch ``i``
    is a pure function of ``(seed, i)``, drawn with its own generator (the global
    random state is untouched).

    Args:
        k_shot: support points per task (``K``).
        q_query: query points per task (``Q``).
        batch_size: tasks per meta-batch (``B``).
        seed: seeds every meta-batch.
        amplitude, phase, x_range: the intervals ``A``, ``φ`` and ``x`` are drawn from.
        dtype: floating dtype of the tensors.

    Examples:
        >>> import torch
        >>> from hyperfunc.fewshot import Sinusoid
        >>> tasks = Sinusoid(k_shot=5, q_query=10, batch_size=25, seed=0)
        >>> b = tasks.batch(0)
        >>> tuple(b.x_support.shape), tuple(b.y_query.shape), tuple(b.amplitude.shape)
        ((25, 5, 1), (25, 10, 1), (25,))
        >>> a, phi = b.amplitude[:, None, None], b.phase[:, None, None]
        >>> torch.equal(b.y_support, a * (b.x_support - phi).sin())
        True
    """

    def __init__(
        self,
        k_shot: int = 10,
        q_query: int = 10,
        batch_size: int = 25,
        seed: int = 0,
        *,
        amplitude: tuple[float, float] = (0.1, 5.0),
        phase: tuple[float, float] = (0.0, math.pi),
        x_range: tuple[float, float] = (-5.0, 5.0),
        dtype: torch.dtype = torch.float32,
    ) -> None:
        check_sizes(k_shot=k_shot, q_query=q_query, batch_size=batch_size)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch.dtype (torch.float32, ...), got {dtype!r}")
        self.k_shot, self.q_query, self.batch_size = int(k_shot), int(q_query), int(batch_size)
        self.seed = check_seed(seed)
        self.amplitude = _interval("amplitude", amplitude)
        self.phase = _interval("phase", phase)
        self.x_range = _interval("x_range", x_range)
        self.dtype = dtype

    def batch(self, index: int) -> SinusoidBatch:
        """Meta-batch number ``index`` (``0, 1, ...``), always the same for a seed."""
        check_seed(index, "the batch index")
        g = batch_generator(self.seed, int(index))
        b, k, q = self.batch_size, self.k_shot, self.q_query

        def uniform(bounds: tuple[float, float], *shape: int) -> Tensor:
            lo, hi = bounds
            return torch.rand(*shape, generator=g, dtype=self.dtype) * (hi - lo) + lo

        amp, phase = uniform(self.amplitude, b), uniform(self.phase, b)
        x = uniform(self.x_range, b, k + q, 1)
        y = amp[:, None, None] * (x - phase[:, None, None]).sin()
        xs, ys, xq, yq = (t.contiguous() for t in (x[:, :k], y[:, :k], x[:, k:], y[:, k:]))
        return SinusoidBatch(xs, ys, xq, yq, amp, phase)

    def __iter__(self) -> Iterator[SinusoidBatch]:
        """Meta-batches ``0, 1, 2, ...`` without end (use :func:`itertools.islice`)."""
        return map(self.batch, itertools.count())

    def __repr__(self) -> str:
        return (
            f"Sinusoid({self.k_shot}-shot {self.q_query}-query, batch_size={self.batch_size}, "
            f"amplitude={self.amplitude}, phase=({self.phase[0]:.4g}, {self.phase[1]:.4g}), "
            f"x_range={self.x_range}, seed={self.seed})"
        )
