"""The processes of a run: who this one is, and how to join the others (torchrun, srun)."""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping

import attrs
import torch
import torch.distributed as dist

__all__ = ["DistributedError", "World", "current", "init", "shutdown"]


class DistributedError(RuntimeError):
    """The processes can't start together, disagree, or lost one another (a rank died or hung)."""


@attrs.frozen
class World:
    """This process's place among the processes of a run.

    Attributes:
        rank: this process's number, ``0 .. size - 1``; rank 0 writes the files.
        size: the number of processes (1: not distributed).
        local_rank: its number on this machine (picks its GPU).
        backend: ``"gloo"`` or ``"nccl"``; ``None`` for a single process.

    Examples:
        >>> from hyperfunc.distributed import World
        >>> World().main, World(rank=1, size=2, backend="gloo").main
        (True, False)
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        """Whether this is rank 0, the process that writes files and prints."""
        return self.rank == 0

    def device(self, device: str | torch.device) -> torch.device:
        """``device`` for this process: a bare ``"cuda"`` becomes this process's own GPU.

        Examples:
            >>> from hyperfunc.distributed import World
            >>> World(rank=3, size=4, local_rank=1, backend="nccl").device("cuda")
            device(type='cuda', index=1)
        """
        d = torch.device(device)
        if d.type == "cuda" and d.index is None and self.size > 1:
            return torch.device("cuda", self.local_rank)
        return d


_current = World()
_broken = False  # a collective failed: the group is not torn down (see shutdown)


def current() -> World:
    """The processes this one belongs to (a single :class:`World` until :func:`init`).

    Examples:
        >>> from hyperfunc.distributed import current
        >>> current().size
        1
    """
    return _current


def _launch(env: Mapping[str, str]) -> tuple[int, int, int] | None:
    """``(rank, size, local_rank)`` from torchrun's or SLURM's variables; ``None`` when not launched so."""
    if "WORLD_SIZE" in env or "RANK" in env:
        keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    elif int(env.get("SLURM_NTASKS", "1")) > 1:
        keys = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")
    else:
        return None
    missing = [k for k in keys if k not in env]
    bad = [k for k in keys if k in env and not env[k].isdigit()]
    if missing or bad:
        raise DistributedError(
            f"the launcher's variables are incomplete: missing {missing}, not a number {bad}; "
            "start the processes with torchrun (or srun), which sets them"
        )
    rank, size, local = (int(env[k]) for k in keys)
    if not 0 <= rank < size:
        raise DistributedError(f"{keys[0]}={rank} is not in 0..{size - 1} ({keys[1]}={size})")
    return rank, size, local


def init(device: str | torch.device = "cpu", *, timeout: float = 300.0) -> World:
    """Join the other processes of a run started by ``torchrun`` or ``srun``; a no-op otherwise.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (torchrun) or ``SLURM_PROCID``,
    ``SLURM_NTASKS``, ``SLURM_LOCALID`` (srun, which also needs ``MASTER_ADDR`` and
    ``MASTER_PORT`` exported by the job script), and starts the default process group:
    NCCL when ``device`` is a GPU, gloo otherwise. A collective that waits longer
    than ``timeout`` seconds (a rank died or hung) raises instead of hanging.

    Args:
        device: where this process computes (``"cuda"`` means its own GPU,
            ``cuda:LOCAL_RANK``).
        timeout: seconds any collective may wait for the others.

    Returns:
        The :class:`World` (also :func:`current` from now on).

    Raises:
        DistributedError: the launcher's variables are incomplete or the processes
            could not meet.

    Examples:
        >>> import hyperfunc.distributed as hd
        >>> hd.init().size  # not started by torchrun: one process
        1
    """
    global _current
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    launch = _launch(os.environ)
    if launch is None or launch[1] == 1:
        _current = World()
        return _current
    rank, size, local = launch
    if dist.is_initialized():
        if (dist.get_rank(), dist.get_world_size()) != (rank, size):
            raise DistributedError("a process group with another rank or size is already running")
        _current = World(rank, size, local, str(dist.get_backend()))
        return _current
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise DistributedError(
            f"{' and '.join(missing)} must be set to rank 0's address (torchrun sets them)"
        )
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    try:
        dist.init_process_group(
            backend, rank=rank, world_size=size, timeout=datetime.timedelta(seconds=timeout)
        )
    except (RuntimeError, ValueError) as e:
        raise DistributedError(f"rank {rank} of {size} could not meet the others: {_first_line(e)}") from e
    _current = World(rank, size, local, backend)
    return _current


def shutdown() -> None:
    """Leave the process group (if any); :func:`current` is a single process again.

    Examples:
        >>> import hyperfunc.distributed as hd
        >>> hd.shutdown(); hd.current().size
        1
    """
    global _current, _broken
    if dist.is_available() and dist.is_initialized() and not _broken:
        try:  # leave together: a rank tearing down while another still talks can abort gloo
            dist.barrier()
            dist.destroy_process_group()
        except RuntimeError:
            pass  # another rank is gone already; the process exit cleans up
    _current, _broken = World(), False


def _mark_broken() -> None:
    global _broken
    _broken = True


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
