"""Training on several processes and machines with ``torch.distributed`` (torchrun, srun).

``hyperfunc run`` started by ``torchrun --nproc-per-node N`` trains with N processes
through :func:`hyperfunc.run.train`; these are the pieces it uses, for a loop of
your own (see the "Scaling out" page of the docs):

* :func:`init` joins the processes started by torchrun or srun (gloo on CPUs, NCCL
  on GPUs; every collective times out instead of hanging); :func:`current` is this
  process's :class:`World`, :func:`shutdown` leaves;
* :func:`shard` takes this process's part of a batch that every process drew
  whole, and its weight; :func:`share` the slice of ``n`` items it evaluates;
* :func:`all_reduce_gradients` sums the weighted gradients once per step, in
  buckets — right for second-order methods, which DDP can't differentiate;
* :func:`reduce_sum`, :func:`gather`, :func:`broadcast_json` and
  :func:`check_same` for numbers, per-item results and settings;
* ``World.main`` is the rank-0 guard: only it writes files.
"""

from __future__ import annotations

from hyperfunc.distributed._reduce import all_reduce_gradients, broadcast_json, check_same, gather, reduce_sum
from hyperfunc.distributed._shard import batch_size, shard, share
from hyperfunc.distributed._world import DistributedError, World, current, init, shutdown

__all__ = [
    "World",
    "init",
    "current",
    "shutdown",
    "shard",
    "share",
    "batch_size",
    "all_reduce_gradients",
    "reduce_sum",
    "gather",
    "broadcast_json",
    "check_same",
    "DistributedError",
]
