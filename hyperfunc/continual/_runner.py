"""Training over a task stream, with evaluation, checkpoints and resume."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

from hyperfunc._device import check_device
from hyperfunc._progress import progress
from hyperfunc._rundir import (
    CHECKPOINT,
    RESULTS,
    CheckpointMismatchError,
    RunDirectoryError,
    atomic_save,
    check_identity,
    prepare_out,
)
from hyperfunc.continual._method import ContinualMethod
from hyperfunc.continual._metrics import AccuracyMatrix
from hyperfunc.continual._streams import TaskStream

__all__ = ["RunConfig", "RunResult", "run_continual", "RunDirectoryError", "CheckpointMismatchError"]

@attrs.frozen
class RunConfig:
    """Training settings shared by all continual methods.

    Attributes:
        steps_per_task: optimiser steps on each task.
        batch_size: minibatch size.
        lr: Adam learning rate (a fresh optimiser per task).
        seed: seeds initialisation, minibatch order and every random choice.
        eval_batch_size: test examples per evaluation call.
        lr_schedule: ``"constant"`` or ``"cosine"`` (decays to 0 over each task).
        device: where to train (``"cpu"``, ``"cuda"``, …); minibatch sampling stays
            on the CPU generator, so the order of examples does not depend on it.
    """

    steps_per_task: int = attrs.field(default=500, validator=attrs.validators.ge(1))
    batch_size: int = attrs.field(default=64, validator=attrs.validators.ge(1))
    lr: float = attrs.field(default=1e-3, validator=attrs.validators.gt(0))
    seed: int = 0
    eval_batch_size: int = attrs.field(default=2000, validator=attrs.validators.ge(1))
    lr_schedule: str = attrs.field(default="constant", validator=attrs.validators.in_(("constant", "cosine")))
    device: str = attrs.field(default="cpu", validator=check_device)


@attrs.frozen
class RunResult:
    """What :func:`run_continual` returns (also written to ``results.json``)."""

    matrix: AccuracyMatrix
    class_incremental: list[float]
    seconds_per_task: list[float]
    summary: dict[str, Any]


def _accuracy(method: ContinualMethod, t: int, x: Tensor, y: Tensor, bs: int) -> float:
    correct = 0
    for xs, ys in zip(torch.split(x, bs), torch.split(y, bs)):
        correct += int((method.logits(t, xs).argmax(-1) == ys).sum())
    return correct / max(1, len(y))


def _class_incremental(
    method: ContinualMethod,
    stream: TaskStream,
    tests: Mapping[int, tuple[Tensor, Tensor]],
    upto: int,
    bs: int,
) -> float:
    """HNET+ENT: pick the task whose weights give the lowest predictive entropy."""
    weights = method.weights_upto(upto)
    classes = [torch.tensor(stream.classes_of(i)) for i in range(upto)]
    width = max(len(c) for c in classes)
    table = torch.full((upto, width), -1, dtype=torch.int64)
    for i, c in enumerate(classes):
        table[i, : len(c)] = c
    device = tests[0][0].device
    table, classes = table.to(device), [c.to(device) for c in classes]
    correct = total = 0
    for j in range(upto):
        x, y = tests[j]
        for xs, ys in zip(torch.split(x, bs), torch.split(y, bs)):
            logits = method.target.batched(weights, xs, shared=True)  # [upto, n, C]
            logp = torch.log_softmax(logits, -1)
            entropy = -(logp.exp() * logp).sum(-1)  # [upto, n]
            task = entropy.argmin(0)
            local = logits.argmax(-1).gather(0, task[None]).squeeze(0)
            pred = table[task, local]
            correct += int((pred == classes[j][ys]).sum())
            total += len(ys)
    return correct / max(1, total)


def run_continual(
    method: ContinualMethod,
    stream: TaskStream,
    config: RunConfig = RunConfig(),
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
    identity: Mapping[str, Any] | None = None,
    verbose: bool = True,
) -> RunResult:
    """Train ``method`` on every task of ``stream`` in turn and measure forgetting.

    After each task it evaluates every task seen so far (task-incremental: the
    task id is given), records ``R[t, j]``, and (with ``out``) writes an atomic
    checkpoint. ``resume=True`` continues from the last completed task with
    identical results. With ``out``, ``results.json`` and ``accuracy.png``
    (when matplotlib is installed) are written at the end.

    Args:
        method: a :class:`ContinualMethod` built for ``stream.num_tasks`` tasks.
        stream: the task stream.
        config: training settings.
        out: run directory (must be new or empty unless resuming or overwriting).
        resume: continue the run in ``out``.
        overwrite: replace the run in ``out``.
        show_progress: show a progress bar per task.
        identity: names that identify the run (method, target, tasks and their
            arguments); a checkpoint whose identity differs is refused.
        verbose: print the accuracy row after each task and the final table.
    """
    if method.num_tasks != stream.num_tasks:
        raise ValueError(
            f"the method was built for {method.num_tasks} tasks but the stream "
            f"{stream.name!r} has {stream.num_tasks}"
        )
    device = torch.device(config.device)
    ident = {
        "method": type(method).__name__,
        "stream": stream.name,
        "spec": repr(method.target.spec),
        "config": attrs.asdict(config),
        **(identity or {}),
    }
    ident = json.loads(json.dumps(ident, default=str))
    path = Path(out) if out is not None else None
    if path is not None:
        prepare_out(path, resume, overwrite)
    torch.manual_seed(config.seed)
    matrix = AccuracyMatrix(stream.num_tasks)
    cil: list[float] = []
    times: list[float] = []
    start = 0
    if path is not None and resume:
        ckpt = torch.load(path / CHECKPOINT, weights_only=False)
        check_identity(ckpt, ident, path)
        method.load_state_dict(ckpt["state"])
        matrix = AccuracyMatrix(stream.num_tasks, np.array(ckpt["R"], dtype=float))
        cil, times, start = list(ckpt["class_incremental"]), list(ckpt["seconds"]), ckpt["completed"]
        torch.set_rng_state(ckpt["rng"])
        if verbose:
            print(f"resuming {path} after task {start - 1}")
    method.to(device)
    tests: dict[int, tuple[Tensor, Tensor]] = {}
    for j in range(start):
        task = stream[j]
        tests[j] = (task.x_test.to(device), task.y_test.to(device))
    for t in range(start, stream.num_tasks):
        t0 = time.perf_counter()
        task = stream[t]
        task = attrs.evolve(task, x_train=task.x_train.to(device), y_train=task.y_train.to(device),
                            x_test=task.x_test.to(device), y_test=task.y_test.to(device))
        tests[t] = (task.x_test, task.y_test)
        method.train()
        method.begin_task(t)
        opt = torch.optim.Adam(method.trainable(t), lr=config.lr)
        sched = (
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps_per_task)
            if config.lr_schedule == "cosine" else None
        )
        bar = progress(config.steps_per_task, f"task {t + 1}/{stream.num_tasks}", show_progress)
        n = len(task.x_train)
        for step in bar:
            idx = torch.randint(0, n, (min(config.batch_size, n),)).to(device)
            loss, logs = method.loss(t, task.x_train[idx], task.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            if sched is not None:
                sched.step()
            if step % 50 == 0:
                bar.set_postfix_str(" ".join(f"{k} {v:.4f}" for k, v in logs.items()))
        method.end_task(t, task)
        method.eval()
        with torch.no_grad():
            row = [_accuracy(method, j, *tests[j], config.eval_batch_size) for j in range(t + 1)]
            matrix.record(t, row)
            if method.conditioned:
                cil.append(_class_incremental(method, stream, tests, t + 1, config.eval_batch_size))
        times.append(time.perf_counter() - t0)
        if verbose:
            extra = f", task inference {100 * cil[-1]:.2f} %" if method.conditioned else ""
            print(
                f"after task {t}: "
                + " ".join(f"{100 * a:.2f}" for a in row)
                + f"  (mean {100 * float(np.mean(row)):.2f} %{extra}, {times[-1]:.1f} s)"
            )
        if path is not None:
            atomic_save(
                {
                    "format": 1,
                    "identity": ident,
                    "state": method.state_dict(),
                    "R": matrix.values.tolist(),
                    "class_incremental": cil,
                    "seconds": times,
                    "completed": t + 1,
                    "rng": torch.get_rng_state(),
                },
                path / CHECKPOINT,
            )
    summary = {
        **ident,
        **matrix.summary(),
        "method_settings": method.describe(),
        "class_incremental_accuracy": cil,
        "seconds_per_task": times,
        "wall_time_s": float(sum(times)),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    if verbose:
        print(matrix.table())
        if cil:
            print(f"class-incremental accuracy (task inferred by entropy): {100 * cil[-1]:.2f} %")
    if path is not None:
        atomic_save(summary, path / RESULTS)
        from hyperfunc.continual._plot import plot_matrix

        png = plot_matrix(matrix, path / "accuracy.png", title=f"{ident['method']} on {stream.name}")
        if verbose and png is None:
            print("(install matplotlib, e.g. pip install 'hyperfunc[plot]', for accuracy.png)")
    return RunResult(matrix, cil, times, summary)
