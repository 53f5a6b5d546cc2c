"""Each process's share of a batch: contiguous, so the shares put together are the whole batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from torch import Tensor

from hyperfunc.distributed._world import World, current

__all__ = ["share", "shard", "batch_size"]


def share(n: int, world: World | None = None) -> slice:
    """The items ``0 .. n-1`` this process takes: a contiguous slice, sizes differing by at most one.

    The slices of ranks ``0, 1, ...`` follow one another and cover every item once,
    so results gathered in rank order are in the original order.

    Examples:
        >>> from hyperfunc.distributed import World, share
        >>> [share(5, World(rank=r, size=2, backend="gloo")) for r in (0, 1)]
        [slice(0, 3, None), slice(3, 5, None)]
    """
    w = current() if world is None else world
    base, extra = divmod(n, w.size)
    start = w.rank * base + min(w.rank, extra)
    return slice(start, start + base + (w.rank < extra))


def _leading_sizes(batch: Any, found: dict[str, int], path: str) -> None:
    if isinstance(batch, Tensor):
        if batch.dim() > 0:
            found[path] = batch.shape[0]
    elif attrs.has(type(batch)):
        for f in attrs.fields(type(batch)):
            _leading_sizes(getattr(batch, f.name), found, f"{path}.{f.name}")
    elif isinstance(batch, Mapping):
        for k, v in batch.items():
            _leading_sizes(v, found, f"{path}[{k!r}]")
    elif isinstance(batch, (tuple, list)):
        for i, v in enumerate(batch):
            _leading_sizes(v, found, f"{path}[{i}]")


def _take(batch: Any, part: slice) -> Any:
    if isinstance(batch, Tensor):
        return batch[part] if batch.dim() > 0 else batch
    if attrs.has(type(batch)):
        return attrs.evolve(
            batch,
            **{f.name: _take(getattr(batch, f.name), part) for f in attrs.fields(type(batch)) if f.init},
        )
    if isinstance(batch, Mapping):
        return type(batch)({k: _take(v, part) for k, v in batch.items()})  # type: ignore[call-arg]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a NamedTuple
        return type(batch)(*(_take(v, part) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_take(v, part) for v in batch)
    return batch


def batch_size(batch: Any) -> int:
    """The number of items in ``batch``: the first dimension its tensors share.

    Raises:
        ValueError: it holds no tensor, or its tensors disagree (each names its path).

    Examples:
        >>> import torch
        >>> from hyperfunc.distributed import batch_size
        >>> batch_size({"x": torch.zeros(8, 3), "y": torch.zeros(8), "task": 2})
        8
    """
    found: dict[str, int] = {}
    _leading_sizes(batch, found, "batch")
    sizes = set(found.values())
    if len(sizes) != 1:
        what = "it holds no tensor" if not found else f"the leading sizes differ: {found}"
        raise ValueError(
            f"can't split a {type(batch).__name__} over processes: {what}; every tensor "
            "of a batch needs the batch along its first dimension"
        )
    return sizes.pop()


def shard(batch: Any, world: World | None = None) -> tuple[Any, float]:
    """This process's part of ``batch`` and its weight (its share of the items).

    ``batch`` is a tensor, or an attrs class, named tuple, tuple, list or dict of
    tensors (and other values, kept as they are) whose tensors all have the batch
    along their first dimension. Every rank draws the same whole batch (the same
    seed) and keeps its :func:`share`, so the parts put together are the batch one
    process would use. For a loss that is a mean over the batch (plus terms that do
    not depend on it), ``weight · loss`` summed over ranks is the whole batch's
    loss, and so are its gradients summed by :func:`all_reduce_gradients`.

    Raises:
        ValueError: the tensors disagree on the batch size, or there are fewer
            items than processes.

    Examples:
        >>> import torch
        >>> from hyperfunc.distributed import World, shard
        >>> x, y = torch.arange(6.0), torch.arange(6)
        >>> (xs, ys), weight = shard((x, y), World(rank=1, size=2, backend="gloo"))
        >>> xs.tolist(), weight
        ([3.0, 4.0, 5.0], 0.5)
    """
    w = current() if world is None else world
    if w.size == 1:
        return batch, 1.0
    n = batch_size(batch)
    if n < w.size:
        raise ValueError(
            f"a batch of {n} can't be split over {w.size} processes; use a batch of at least {w.size} "
            "(--batch-size) or fewer processes"
        )
    part = share(n, w)
    return _take(batch, part), (part.stop - part.start) / n
