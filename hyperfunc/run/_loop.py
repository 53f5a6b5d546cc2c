"""The one training loop: phases of optimiser steps, checkpoints, resume, limits, metrics."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import FrameType
from typing import Any, Protocol, runtime_checkable

import attrs
import torch
from torch import Tensor, nn

import hyperfunc.distributed as hd
from hyperfunc._progress import progress
from hyperfunc._target import Target
from hyperfunc.run import _errors
from hyperfunc.run._config import RunConfig
from hyperfunc.run._curves import CURVES, plot_curves
from hyperfunc.run._environment import environment
from hyperfunc.run._errors import CheckpointMismatchError, NonFiniteLossError, RunError, RunInterrupted
from hyperfunc.run._folder import (
    CHECKPOINT,
    ENVIRONMENT,
    METRICS,
    MODEL,
    RESULTS,
    RunFolder,
    check_identity,
    plain,
)
from hyperfunc.run._metrics import MetricsLog, check_tensorboard

__all__ = ["Method", "Phase", "train", "to_device", "move_method"]

FORMAT = 2


@runtime_checkable
class Method(Protocol):
    """What the loop trains: an ``nn.Module`` whose ``loss(batch)`` returns ``(loss, logs)``.

    All trainable state lives in the module (so ``state_dict`` is a checkpoint);
    ``logs`` maps names to floats for the progress bar and ``metrics.jsonl``.
    """

    def loss(self, batch: Any) -> tuple[Tensor, Mapping[str, float]]: ...

    def state_dict(self) -> dict[str, Any]: ...


@attrs.frozen
class Phase:
    """A stretch of training with one optimiser: a task of a stream, or the whole run.

    Attributes:
        name: shown on the progress bar and in ``metrics.jsonl`` (``"task 3"``, ``"train"``).
        batch: ``batch(step, generator)`` → the batch of step ``step``; draw every random
            choice from ``generator`` (saved in checkpoints) so a resumed run sees the
            same batches as an uninterrupted one.
        steps: optimiser steps (``None``: the config's ``steps``).
        parameters: what the optimiser updates (default: all the method's parameters
            that require grad); a fresh Adam is made for each phase.
        begin: called once before the phase's first step (not again on resume).
        end: called after its last step.
        evaluate: called after ``end``; its numbers go to ``metrics.jsonl`` and to the
            record of the phase in ``results.json``.
    """

    name: str
    batch: Callable[[int, torch.Generator], Any]
    steps: int | None = None
    parameters: Callable[[], Iterable[nn.Parameter]] | None = None
    begin: Callable[[], None] | None = None
    end: Callable[[], None] | None = None
    evaluate: Callable[[], Mapping[str, Any]] | None = None


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` on ``device``: anything with ``.to``, or dicts / lists / tuples of such things."""
    if hasattr(batch, "to"):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def move_method(method: nn.Module, device: torch.device) -> None:
    """Move ``method`` to ``device``, with the targets it holds (their buffers live outside ``nn``)."""
    method.to(device)
    for module in method.modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, Target):
                setattr(module, name, value.to(device))


class _Stop:
    """SIGINT / SIGTERM: the first asks the loop to checkpoint and stop; a second stops at once."""

    def __init__(self) -> None:
        self.asked = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        print("\nstopping after this step to write a checkpoint (again to stop at once)", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _rng_state() -> dict[str, Any]:
    started = torch.cuda.is_available() and torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
    cuda = torch.cuda.get_rng_state_all() if started else []
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


class _Run:
    def __init__(
        self,
        method: nn.Module,
        phases: Sequence[Phase],
        config: RunConfig,
        folder: RunFolder | None,
        ident: dict[str, Any],
        world: hd.World,
        reader: RunFolder | None,
    ) -> None:
        self.method, self.phases, self.config, self.folder, self.ident = method, phases, config, folder, ident
        self.world, self.reader = world, reader  # folder: rank 0's, to write; reader: every rank's, to resume
        self.device = world.device(config.device)
        self.shares: list[int] = []
        self.generator = torch.Generator().manual_seed(config.seed)
        self.phase, self.step, self.seconds, self.records = 0, 0, 0.0, []  # type: ignore[var-annotated]
        self.stopped_by_time_limit = False
        self.opt: torch.optim.Optimizer | None = None
        self.sched: torch.optim.lr_scheduler.LRScheduler | None = None
        self.t0 = time.perf_counter()
        tb = folder.file("tensorboard") if folder is not None and config.tensorboard else None
        self.metrics = MetricsLog(None if folder is None else folder.file(METRICS), tb)

    def elapsed(self) -> float:
        return self.seconds + time.perf_counter() - self.t0

    def save(self) -> None:
        if self.folder is None:
            return
        self.folder.save(
            CHECKPOINT,
            {
                "format": FORMAT,
                "identity": self.ident,
                "method": self.method.state_dict(),
                "optimizer": None if self.opt is None else self.opt.state_dict(),
                "scheduler": None if self.sched is None else self.sched.state_dict(),
                "phase": self.phase,
                "step": self.step,
                "records": self.records,
                "seconds": self.elapsed(),
                "generator": self.generator.get_state(),
                "rng": _rng_state(),
                "metrics_bytes": self.metrics.tell(),
            },
        )

    def resume(self) -> dict[str, Any]:
        assert self.reader is not None
        ckpt = self.reader.load_checkpoint(map_location="cpu")
        if ckpt.get("format") != FORMAT:
            raise _errors.CheckpointError(
                f"{str(self.reader.file(CHECKPOINT))!r} has format {ckpt.get('format')!r}, "
                f"not {FORMAT}; it was written by another hyperfunc version"
            )
        check_identity(ckpt["identity"], self.ident, self.reader.path)
        self.method.load_state_dict(ckpt["method"])
        self.phase, self.step, self.records = ckpt["phase"], ckpt["step"], list(ckpt["records"])
        self.seconds = float(ckpt["seconds"])
        self.generator.set_state(ckpt["generator"])
        _set_rng_state(ckpt["rng"])
        self.metrics.truncate(int(ckpt["metrics_bytes"]))
        self._extend_or_refuse()
        return ckpt

    def _extend_or_refuse(self) -> None:
        """A finished run resumed with more ``steps``: continue its last phase, or refuse."""
        if self.phase < len(self.phases) or not self.records:
            return
        short = [
            r["phase"]
            for r, p in zip(self.records, self.phases)
            if r["steps"] < (self.config.steps if p.steps is None else p.steps)
        ]
        if not short:
            return
        last = self.phases[-1]
        if short == [last.name] and last.end is None and last.evaluate is None:
            self.phase, self.step = len(self.phases) - 1, int(self.records.pop()["steps"])
            return
        assert self.reader is not None
        raise CheckpointMismatchError(
            f"the run in {str(self.reader.path)!r} is finished and its phases {short} can't be given more "
            "steps (each ends with its own evaluation); start a new run with --overwrite or another --out"
        )

    def global_step(self, step: int) -> int:
        return int(sum(r["steps"] for r in self.records)) + step

    def log(self, record: dict[str, Any], step: int) -> None:
        self.metrics.log({**record, "seconds": round(self.elapsed(), 3)}, self.global_step(step))

    def run(self, ckpt: Mapping[str, Any] | None, stop: _Stop) -> None:
        cfg, method = self.config, self.method
        loss_of: Callable[[Any], tuple[Tensor, Mapping[str, float]]] = method.loss  # type: ignore[assignment]
        limit = None if cfg.time_limit is None else 60.0 * cfg.time_limit
        for pi in range(self.phase, len(self.phases)):
            phase = self.phases[pi]
            n = cfg.steps if phase.steps is None else phase.steps
            if pi != self.phase:
                self.phase, self.step = pi, 0
            if self.step == 0 and phase.begin is not None:
                phase.begin()
            params = [
                p
                for p in (phase.parameters() if phase.parameters else method.parameters())
                if p.requires_grad
            ]
            self.opt = torch.optim.Adam(params, lr=cfg.lr) if params and n > 0 else None
            self.sched = None
            if self.opt is not None and cfg.lr_schedule == "cosine":
                self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, n)
            if ckpt is not None and self.step > 0 and ckpt["optimizer"] is not None and self.opt is not None:
                self.opt.load_state_dict(ckpt["optimizer"])
                if self.sched is not None and ckpt["scheduler"] is not None:
                    self.sched.load_state_dict(ckpt["scheduler"])
            method.train()
            label = phase.name if len(self.phases) == 1 else f"{phase.name} ({pi + 1}/{len(self.phases)})"
            shown = cfg.progress and self.world.main
            bar = progress(max(0, n - self.step) if self.opt is not None else 0, label, shown)
            for _ in bar:
                out_of_time = limit is not None and self.elapsed() > limit
                if self.world.size > 1:  # every process stops at the same step
                    flags = hd.reduce_sum(torch.tensor([float(out_of_time), float(stop.asked)]))
                    out_of_time, stop.asked = bool(flags[0] > 0), bool(flags[1] > 0)
                if out_of_time:
                    self.stopped_by_time_limit = True
                    break
                if stop.asked:
                    self.interrupt()
                assert self.opt is not None
                batch, weight = self.shard(phase.batch(self.step, self.generator))
                loss, logs = loss_of(to_device(batch, self.device))
                self.opt.zero_grad(set_to_none=True)
                (loss * weight if self.world.size > 1 else loss).backward()  # type: ignore[no-untyped-call]
                value, logs = self.reduce(loss, logs, weight)
                if not math.isfinite(value):
                    kept = (
                        ""
                        if self.reader is None
                        else f"; the last good checkpoint in {self.reader.path} is kept"
                    )
                    raise NonFiniteLossError(
                        f"the training loss became {value} at step {self.step + 1} of {phase.name!r}{kept}; "
                        "try a lower learning rate (--lr)"
                    )
                hd.all_reduce_gradients(params, world=self.world)
                self.opt.step()
                if self.sched is not None:
                    self.sched.step()
                self.step += 1
                if self.step % cfg.log_every == 0 or self.step == n:
                    lr = self.opt.param_groups[0]["lr"]
                    self.log(
                        {"phase": phase.name, "step": self.step, "loss": value, **logs, "lr": lr}, self.step
                    )
                    bar.set_postfix_str(
                        " ".join(f"{k} {v:.4g}" for k, v in logs.items() if isinstance(v, (int, float)))
                    )
                if self.step % cfg.checkpoint_every == 0 and self.step < n:
                    self.save()
            if self.stopped_by_time_limit:
                self.save()
                print(
                    f"time limit of {cfg.time_limit} min reached after step {self.step} of {phase.name!r}",
                    file=sys.stderr,
                )
                return
            if phase.end is not None:
                phase.end()
            method.eval()
            record: dict[str, Any] = {"phase": phase.name, "steps": self.step}
            if phase.evaluate is not None:
                with torch.no_grad():
                    record.update(phase.evaluate())
                self.log({"event": "evaluation", **record}, self.step)
            self.records.append(record)
            self.phase, self.step = pi + 1, 0
            self.save()  # with the phase's optimiser: a finished last phase may be extended on resume
            self.opt = self.sched = None
            if stop.asked:
                self.interrupt()

    def shard(self, batch: Any) -> tuple[Any, float]:
        """This process's part of the step's batch (all of it for one process) and its weight."""
        part, weight = batch, 1.0
        if self.world.size > 1:
            try:
                part, weight = hd.shard(batch, self.world)
            except ValueError as e:
                raise _errors.ConfigError(str(e)) from None
        if not self.shares:  # how the first batch was split, for results.json
            with contextlib.suppress(ValueError):  # one process, a batch without tensors: no size
                n = hd.batch_size(batch)
                ranks = (attrs.evolve(self.world, rank=r) for r in range(self.world.size))
                self.shares = [len(range(n)[hd.share(n, w)]) for w in ranks]
        return part, weight

    def reduce(
        self, loss: Tensor, logs: Mapping[str, float], weight: float
    ) -> tuple[float, dict[str, float]]:
        """The whole batch's loss and logs: each process's, weighted by its share, summed."""
        if self.world.size == 1:
            return float(loss.detach()), dict(logs)
        numbers = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
        values = torch.tensor([float(loss.detach()), *numbers.values()], dtype=torch.float64)
        total = hd.reduce_sum(values * weight, self.world).tolist()
        return total[0], {**logs, **dict(zip(numbers, total[1:]))}

    def interrupt(self) -> None:
        self.save()
        where = f"step {self.step} of phase {self.phase + 1}/{len(self.phases)}"
        if self.reader is None:
            raise RunInterrupted(f"interrupted at {where} (no run folder, so no checkpoint)")
        raise RunInterrupted(
            f"interrupted at {where}; the checkpoint in {str(self.reader.path)!r} holds it: "
            "run the same command with --resume to continue"
        )


def on_rank_0(action: Callable[[], None], world: hd.World) -> None:
    """Run ``action`` on rank 0 alone; its error, if any, is raised on every process."""
    outcome = None
    if world.main:
        try:
            action()
        except Exception as e:
            outcome = {"error": type(e).__name__, "message": str(e)}
            if world.size == 1:
                raise
            hd.broadcast_json(outcome, world)
            raise
    outcome = hd.broadcast_json(outcome, world)
    if outcome is not None:
        kind = getattr(_errors, outcome["error"], RunError)
        raise kind(f"on rank 0: {outcome['message']}")


def train(
    method: nn.Module,
    phases: Sequence[Phase],
    config: RunConfig,
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    identity: Mapping[str, Any] | None = None,
    finish: Callable[[list[dict[str, Any]], RunFolder | None], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train ``method`` through ``phases`` with Adam, then ``finish``; returns the results.

    This is the loop every family and ``hyperfunc run`` goes through. Each phase
    gets a fresh Adam over its parameters (and a cosine schedule over its steps
    with ``lr_schedule="cosine"``); each step draws ``phase.batch(step,
    generator)``, moves it to ``config.device`` and takes one step on
    ``method.loss(batch)``. A NaN or infinite loss stops the run with
    :class:`~hyperfunc.run.NonFiniteLossError` (the last good checkpoint is kept);
    ``config.time_limit`` stops training (the results say so); Ctrl-C or SIGTERM
    writes a checkpoint and raises :class:`~hyperfunc.run.RunInterrupted`.

    With ``out`` the run folder (:class:`~hyperfunc.run.RunFolder`) receives
    ``checkpoint.pt`` (every ``config.checkpoint_every`` steps, at every phase end,
    on a time limit or interrupt), ``metrics.jsonl``, ``environment.json``,
    ``model.pt`` (the method's final ``state_dict``, loadable with
    ``weights_only=True``), ``curves.png`` (the learning curves, with matplotlib:
    :func:`~hyperfunc.run.plot_curves`), whatever ``finish`` writes, and
    ``results.json`` last.
    ``resume=True`` continues from the checkpoint (identical to an uninterrupted
    run: every random state is restored); it is refused if the method, the phases,
    ``identity`` or the settings differ.

    Args:
        method: an ``nn.Module`` with ``loss(batch) -> (loss, logs)`` (:class:`Method`).
        phases: the phases, in order.
        config: shared settings (:class:`~hyperfunc.run.RunConfig` or a family's subclass).
        out: run folder (``None``: keep nothing on disk).
        resume: continue the run in ``out``.
        overwrite: replace the run in ``out`` (only a folder hyperfunc wrote).
        identity: more names a resumed checkpoint must match (data, target, arguments).
        finish: ``finish(records, folder)`` after training: the final evaluation;
            its mapping joins the results. ``records`` holds one dict per completed
            phase (its name, steps and evaluation).

    Returns:
        The results (also ``results.json``): ``finish``'s numbers, the phase records,
        ``steps_done``, ``stopped_by_time_limit``, ``seconds``, ``settings`` and ``environment``.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.run import Phase, RunConfig, train
        >>> class Line(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.w = torch.nn.Parameter(torch.zeros(()))
        ...     def loss(self, batch):
        ...         x, y = batch
        ...         loss = (self.w * x - y).pow(2).mean()
        ...         return loss, {"mse": float(loss.detach())}
        >>> def batch(step, g):
        ...     x = torch.randn(16, generator=g)
        ...     return x, 3 * x
        >>> results = train(Line(), [Phase("fit", batch)], RunConfig(steps=200, lr=0.1, progress=False))
        >>> results["steps_done"], results["phases"][0]["phase"]
        (200, 'fit')
    """
    if not isinstance(method, nn.Module) or not callable(getattr(method, "loss", None)):
        raise TypeError(
            f"train needs an nn.Module with loss(batch) -> (loss, logs), got {type(method).__name__}"
        )
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a hyperfunc.run.RunConfig, got {type(config).__name__}")
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise ValueError(f"phase names must be unique, got {names}")
    if config.tensorboard:
        check_tensorboard()
    if out is None and (resume or overwrite):
        raise ValueError("resume and overwrite need a run folder: pass out=")
    ident = plain(
        {"method": type(method).__name__, "phases": names, "config": config.identity(), **(identity or {})}
    )
    world = hd.init(config.device, timeout=config.collective_timeout)  # joins torchrun's processes, if any
    hd.check_same("settings", {"identity": ident, "settings": plain(attrs.asdict(config))}, world)
    folder = RunFolder(out) if out is not None else None
    if folder is not None:
        on_rank_0(lambda: folder.start(resume=resume, overwrite=overwrite), world)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    writer = folder if world.main else None  # rank 0 alone writes files
    run = _Run(method, phases, config, writer, ident, world, folder)
    devnull = None if world.main else open(os.devnull, "w")  # other ranks' prints repeat rank 0's
    quiet = contextlib.nullcontext() if devnull is None else contextlib.redirect_stdout(devnull)
    try:
        with quiet:
            env = environment(config)
            ckpt = None
            if folder is not None:
                if resume:  # a refused checkpoint changes nothing in the folder
                    ckpt = run.resume()
                    if world.main:
                        where = f"step {run.step} of phase {run.phase + 1}/{len(phases)}"
                        print(f"resuming {folder.path} at {where}", file=sys.stderr)
                if writer is not None:
                    writer.write_json(ENVIRONMENT, env)
            move_method(method, run.device)
            if folder is not None and ckpt is None:
                run.save()  # a run killed before its first interval can still be resumed
            with _Stop() as stop:
                run.run(ckpt, stop)
            method.eval()  # Ctrl-C from here stops at once: the checkpoint is complete, a resume finishes
            results: dict[str, Any] = {}
            if finish is not None:
                results.update(finish(run.records, writer))
        results.update(
            {
                "phases": run.records,
                "steps_done": sum(r["steps"] for r in run.records) + run.step,
                "stopped_by_time_limit": run.stopped_by_time_limit,
                "seconds": round(run.elapsed(), 3),
                "identity": ident,
                "settings": attrs.asdict(config),
                "environment": env,
                "processes": {
                    "world_size": world.size,
                    "backend": world.backend,
                    "batch_shares": run.shares,
                },
            }
        )
        if writer is not None:
            state = {
                k: v.detach().cpu() if isinstance(v, Tensor) else v for k, v in method.state_dict().items()
            }
            writer.save(MODEL, state)
            plot_curves(writer.file(METRICS), writer.file(CURVES), title=type(method).__name__)
            writer.write_json(RESULTS, results)
        return plain(results)  # type: ignore[no-any-return]
    finally:
        run.metrics.close()
        if writer is not None:
            writer.close()
        if devnull is not None:
            devnull.close()
