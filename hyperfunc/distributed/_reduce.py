"""What the processes exchange: gradients, weighted numbers, per-item results, checks that they agree."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from hyperfunc.distributed._world import DistributedError, World, _first_line, _mark_broken, current

__all__ = ["all_reduce_gradients", "reduce_sum", "gather", "broadcast_json", "check_same"]


def _device(w: World) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if w.backend == "nccl" else torch.device("cpu")


class _Collective:
    """Turns a failed collective (a rank died, hung past the timeout) into a DistributedError."""

    def __init__(self, what: str, w: World) -> None:
        self.what, self.w = what, w

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, e: BaseException | None, tb: object) -> None:
        if (
            e is not None
            and isinstance(e, (RuntimeError, dist.DistError))
            and not isinstance(e, DistributedError)
        ):
            _mark_broken()
            raise DistributedError(
                f"rank {self.w.rank} of {self.w.size} lost the other processes during {self.what} "
                f"(one died or hung past the timeout): {_first_line(e)}"
            ) from e


def all_reduce_gradients(
    params: Iterable[Tensor], *, bucket_mib: float = 25.0, world: World | None = None
) -> None:
    """Sum every parameter's ``.grad`` over the processes, in place, in a few large messages.

    With each process's loss weighted by its share of the batch (:func:`shard`),
    the sum is the gradient of the whole batch's loss — also for second-order
    methods whose loss differentiates through an inner loop, which DDP can't
    (call this once per step, after ``backward``, instead of wrapping the model
    in DDP). Gradients are packed into buckets of about ``bucket_mib`` MiB per
    dtype and device. A parameter with a gradient on some processes and ``None``
    on others counts as zero where it is missing; ``None`` everywhere stays ``None``.

    Examples:
        >>> import torch
        >>> from hyperfunc.distributed import all_reduce_gradients
        >>> w = torch.ones(3, requires_grad=True)
        >>> (2 * w).sum().backward()
        >>> all_reduce_gradients([w])  # one process: unchanged
        >>> w.grad.tolist()
        [2.0, 2.0, 2.0]
    """
    w = current() if world is None else world
    if w.size == 1:
        return
    ps = [p for p in params if p.requires_grad]
    with _Collective("the gradient exchange", w):
        has = torch.tensor([p.grad is not None for p in ps], dtype=torch.float32, device=_device(w))
        dist.all_reduce(has)
        live = [p for p, h in zip(ps, has.tolist()) if h > 0]
        for p in live:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        limit = bucket_mib * 2**20
        buckets: dict[tuple[torch.dtype, torch.device], list[list[Tensor]]] = {}
        for p in live:
            g = p.grad
            assert g is not None
            group = buckets.setdefault((g.dtype, g.device), [[]])
            if (
                group[-1]
                and sum(t.numel() for t in group[-1]) * g.element_size() + g.numel() * g.element_size()
                > limit
            ):
                group.append([])
            group[-1].append(g)
        for groups in buckets.values():
            for grads in groups:
                flat = torch.cat([g.reshape(-1) for g in grads])
                dist.all_reduce(flat)
                for g, part in zip(grads, torch.split(flat, [g.numel() for g in grads])):
                    g.copy_(part.view_as(g))


def reduce_sum(values: Tensor, world: World | None = None) -> Tensor:
    """``values`` summed over the processes (a new tensor; ``values`` itself on one process).

    Examples:
        >>> import torch
        >>> from hyperfunc.distributed import reduce_sum
        >>> reduce_sum(torch.tensor([1.0, 2.0])).tolist()
        [1.0, 2.0]
    """
    w = current() if world is None else world
    if w.size == 1:
        return values
    out = values.detach().to(_device(w), copy=True)
    with _Collective("a reduction", w):
        dist.all_reduce(out)
    return out.to(values.device)


def gather(values: Tensor, world: World | None = None) -> Tensor:
    """Every process's ``values`` concatenated along the first dimension, in rank order, on every process.

    With each rank's items taken by :func:`share`, the result is in the original
    item order: per-item results (accuracies, PSNRs) of an evaluation split over
    the processes come back whole. Shares may differ in length (or be empty).

    Examples:
        >>> import torch
        >>> from hyperfunc.distributed import gather
        >>> gather(torch.tensor([0.5, 1.0])).tolist()
        [0.5, 1.0]
    """
    w = current() if world is None else world
    if w.size == 1:
        return values
    dev = _device(w)
    mine = values.detach().to(dev)
    with _Collective("gathering results", w):
        sizes = [torch.zeros(1, dtype=torch.int64, device=dev) for _ in range(w.size)]
        dist.all_gather(sizes, torch.tensor([len(mine)], dtype=torch.int64, device=dev))
        counts = [int(s) for s in sizes]
        padded = torch.zeros((max(counts), *mine.shape[1:]), dtype=mine.dtype, device=dev)
        padded[: len(mine)] = mine
        parts = [torch.empty_like(padded) for _ in range(w.size)]
        dist.all_gather(parts, padded)
    return torch.cat([p[:c] for p, c in zip(parts, counts)]).to(values.device)


def _to_bytes(obj: Any) -> Tensor:
    return torch.frombuffer(bytearray(json.dumps(obj, sort_keys=True).encode()), dtype=torch.uint8)


def broadcast_json(obj: Any, world: World | None = None) -> Any:
    """Rank 0's ``obj`` (JSON data) on every process (no pickle: only JSON crosses).

    Examples:
        >>> from hyperfunc.distributed import broadcast_json
        >>> broadcast_json({"ok": True})
        {'ok': True}
    """
    w = current() if world is None else world
    if w.size == 1:
        return obj
    dev = _device(w)
    data = _to_bytes(obj if w.main else None).to(dev)
    with _Collective("agreeing with rank 0", w):
        n = torch.tensor([len(data)], dtype=torch.int64, device=dev)
        dist.broadcast(n, 0)
        buf = data if w.main else torch.empty(int(n), dtype=torch.uint8, device=dev)
        dist.broadcast(buf, 0)
    return json.loads(bytes(buf.cpu().tolist()).decode())


def check_same(what: str, obj: Any, world: World | None = None) -> None:
    """Raise unless every process has the same ``obj`` (JSON data): settings that must agree.

    Raises:
        DistributedError: naming the ranks that differ from rank 0 and, for
            dicts, the keys that differ.

    Examples:
        >>> from hyperfunc.distributed import check_same
        >>> check_same("settings", {"lr": 0.001})  # one process: nothing to compare
    """
    w = current() if world is None else world
    if w.size == 1:
        return
    ours = json.loads(json.dumps(obj, sort_keys=True))
    theirs = broadcast_json(ours, w)
    verdict = torch.tensor([0 if ours == theirs else 1], dtype=torch.int64, device=_device(w))
    flags = gather(verdict, w).tolist()
    differ = [r for r, f in enumerate(flags) if f]
    if not differ:
        return
    keys: Sequence[str] = []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        keys = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    detail = f" (here: {', '.join(keys)})" if keys else ""
    raise DistributedError(
        f"the processes were started with different {what}: ranks {differ} differ from rank 0{detail}; "
        "start every process with the same command"
    )
