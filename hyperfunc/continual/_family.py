"""Continual learning on the run layer: one phase per task, the accuracy matrix as evaluation."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

import hyperfunc
import hyperfunc.distributed as hd
from hyperfunc._target import stateless
from hyperfunc.continual._method import ContinualMethod, TaskBatch
from hyperfunc.continual._metrics import AccuracyMatrix
from hyperfunc.continual._plot import plot_matrix
from hyperfunc.continual._streams import Task, TaskStream
from hyperfunc.run import (
    Family,
    Phase,
    Plan,
    Request,
    RunConfig,
    RunFolder,
    at_least,
    build_target,
    check_kwargs,
    option,
)
from hyperfunc.run import train as train_run

Finish = Callable[[list[dict[str, Any]], RunFolder | None], Mapping[str, Any]]

__all__ = ["ContinualConfig", "ContinualFamily", "run_continual", "continual_phases"]


@attrs.frozen(kw_only=True)
class ContinualConfig(RunConfig):
    """:class:`~hyperfunc.run.RunConfig` for continual learning (``steps`` are per task).

    Attributes:
        batch_size: minibatch size (default 64).
        eval_batch_size: test examples per evaluation call.
    """

    batch_size: int | None = option(64, "minibatch size", at_least(1))
    eval_batch_size: int = option(2000, "test examples per evaluation call", at_least(1))


def _accuracy(method: ContinualMethod, t: int, x: Tensor, y: Tensor, bs: int) -> float:
    part = hd.share(len(y))  # under torchrun each process scores its share of the test set
    correct = 0
    for xs, ys in zip(torch.split(x[part], bs), torch.split(y[part], bs)):
        correct += int((method.logits(t, xs).argmax(-1) == ys).sum())
    return int(hd.reduce_sum(torch.tensor([correct]))) / max(1, len(y))


def _class_incremental(
    method: ContinualMethod, stream: TaskStream, tests: list[tuple[Tensor, Tensor]], bs: int
) -> float:
    """HNET+ENT: pick the task whose weights give the lowest predictive entropy."""
    upto = len(tests)
    weights = method.weights_upto(upto)
    classes = [torch.tensor(stream.classes_of(i)) for i in range(upto)]
    width = max(len(c) for c in classes)
    table = torch.full((upto, width), -1, dtype=torch.int64)
    for i, c in enumerate(classes):
        table[i, : len(c)] = c
    device = tests[0][0].device
    table, classes = table.to(device), [c.to(device) for c in classes]
    correct = total = 0
    for j, (x, y) in enumerate(tests):
        part = hd.share(len(y))
        total += len(y)
        for xs, ys in zip(torch.split(x[part], bs), torch.split(y[part], bs)):
            logits = method.target.batched(weights, xs, shared=True)  # [upto, n, C]
            logp = torch.log_softmax(logits, -1)
            entropy = -(logp.exp() * logp).sum(-1)  # [upto, n]
            task = entropy.argmin(0)
            local = logits.argmax(-1).gather(0, task[None]).squeeze(0)
            correct += int((table[task, local] == classes[j][ys]).sum())
    return int(hd.reduce_sum(torch.tensor([correct]))) / max(1, total)


class _Stream:
    """The stream's tasks on the training device, one at a time (tests of every task seen kept)."""

    def __init__(self, method: ContinualMethod, stream: TaskStream, config: ContinualConfig) -> None:
        self.method, self.stream, self.config = method, stream, config
        self.device = torch.device(config.device)
        self._task: tuple[int, Task] | None = None
        self._tests: dict[int, tuple[Tensor, Tensor]] = {}  # every task seen: evaluated after each task

    def task(self, t: int) -> Task:
        if self._task is None or self._task[0] != t:
            task, d = self.stream[t], self.device
            moved = {k: getattr(task, k).to(d) for k in ("x_train", "y_train", "x_test", "y_test")}
            self._task = (t, attrs.evolve(task, **moved))
            self._tests[t] = (moved["x_test"], moved["y_test"])
        return self._task[1]

    def test(self, t: int) -> tuple[Tensor, Tensor]:
        if t not in self._tests:  # after a resume: earlier tasks are built again, once
            task = self.stream[t]
            self._tests[t] = (task.x_test.to(self.device), task.y_test.to(self.device))
        return self._tests[t]

    def batch(self, t: int, g: torch.Generator) -> TaskBatch:
        task = self.task(t)
        n = len(task.x_train)
        idx = torch.randint(0, n, (min(self.config.batch_size or 64, n),), generator=g).to(self.device)
        return TaskBatch(t, task.x_train[idx], task.y_train[idx])

    def evaluate(self, t: int) -> dict[str, Any]:
        bs = self.config.eval_batch_size
        tests = [self.test(j) for j in range(t + 1)]
        row = [_accuracy(self.method, j, x, y, bs) for j, (x, y) in enumerate(tests)]
        out: dict[str, Any] = {"accuracy": row, "mean_accuracy": float(np.mean(row))}
        extra = ""
        if self.method.conditioned:
            out["task_inference_accuracy"] = _class_incremental(self.method, self.stream, tests, bs)
            extra = f", task inference {100 * out['task_inference_accuracy']:.2f} %"
        print(  # the row of the accuracy matrix
            f"after task {t}: "
            + " ".join(f"{100 * a:.2f}" for a in row)
            + f"  (mean {100 * out['mean_accuracy']:.2f} %{extra})"
        )
        return out


def continual_phases(method: ContinualMethod, stream: TaskStream, config: ContinualConfig) -> list[Phase]:
    """One :class:`~hyperfunc.run.Phase` per task: ``begin_task``, minibatches, ``end_task``, the row of R."""
    if method.num_tasks != stream.num_tasks:
        raise ValueError(
            f"the method was built for {method.num_tasks} tasks but the stream "
            f"{stream.name!r} has {stream.num_tasks}"
        )
    data = _Stream(method, stream, config)

    def phase(t: int) -> Phase:
        return Phase(
            name=f"task {t}",
            batch=lambda step, g: data.batch(t, g),
            parameters=lambda: method.trainable(t),
            begin=lambda: method.begin_task(t),
            end=lambda: method.end_task(t, data.task(t)),
            evaluate=lambda: data.evaluate(t),
        )

    return [phase(t) for t in range(stream.num_tasks)]


def _finish(method: ContinualMethod, stream: TaskStream) -> Finish:
    def finish(records: list[dict[str, Any]], folder: RunFolder | None) -> Mapping[str, Any]:
        settings = {
            "stream": stream.name,
            "method_settings": method.describe(),
            "tasks_completed": len(records),
        }
        if not records:  # stopped (time limit) before the first task ended
            print("no task was completed: there is no accuracy matrix yet")
            return settings
        matrix = AccuracyMatrix(stream.num_tasks)
        for t, r in enumerate(records):
            matrix.record(t, r["accuracy"])
        cil = [r["task_inference_accuracy"] for r in records if "task_inference_accuracy" in r]
        print(matrix.table())
        if cil:
            print(f"class-incremental accuracy (task inferred by entropy): {100 * cil[-1]:.2f} %")
        if folder is not None:
            title = f"{type(method).__name__} on {stream.name}"
            if plot_matrix(matrix, folder.file("accuracy.png"), title=title) is None:
                print("(install matplotlib, e.g. pip install 'torch-hyperfunc[plot]', for accuracy.png)")
        return {**matrix.summary(), **settings, "class_incremental_accuracy": cil}

    return finish


def run_continual(
    method: ContinualMethod,
    stream: TaskStream,
    config: ContinualConfig | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``method`` on every task of ``stream`` in turn through :func:`hyperfunc.run.train`.

    After each task it evaluates every task seen so far (task-incremental: the task
    id is given) and records a row ``R[t, :t+1]`` of the accuracy matrix; the
    results hold the matrix, average accuracy, backward transfer and forgetting
    (and, for task-conditioned methods, task inference by predictive entropy).
    ``out``, ``resume`` and ``overwrite`` are :func:`~hyperfunc.run.train`'s; the
    run folder also gets ``accuracy.png`` when matplotlib is installed.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.continual import HNET, ContinualConfig, run_continual, split_digits
        >>> stream = split_digits()
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> method = HNET(hf.stateless(hf.targets.mlp(64, 2, hidden=(32,))), stream.num_tasks, emb_dim=8,
        ...               hypernet_args={"chunk_size": 256, "hidden": (32,)})
        >>> results = run_continual(method, stream, ContinualConfig(steps=20, progress=False))
        ... # doctest: +ELLIPSIS
        after task 0: ...
        >>> len(results["R"]), results["steps_done"]
        (5, 100)
    """
    config = ContinualConfig() if config is None else config
    phases = continual_phases(method, stream, config)
    return train_run(
        method,
        phases,
        config,
        out=out,
        resume=resume,
        overwrite=overwrite,
        identity={"stream": stream.name, "spec": repr(method.target.spec), **(identity or {})},
        finish=_finish(method, stream),
    )


class ContinualFamily(Family):
    """Continual learning: a method learns the tasks of a stream in turn (one phase per task)."""

    name = "continual"
    config = ContinualConfig
    default_tasks = "split-digits"

    def build(self, request: Request) -> Plan:
        assert isinstance(request.config, ContinualConfig)
        target_name = request.target or str(getattr(request.method_cls, "default_target", "mlp"))
        stream_factory = hyperfunc.tasks.get(request.tasks)
        target_factory = hyperfunc.targets.get(target_name)
        check_kwargs(
            stream_factory, request.task_args, "--task-arg", f"task {request.tasks!r}", ("root", "flatten")
        )
        check_kwargs(
            request.method_cls,
            request.method_args,
            "--method-arg",
            f"method {request.method!r}",
            ("target", "num_tasks"),
        )
        wants_flat = "in_features" in inspect.signature(target_factory).parameters
        stream = stream_factory(root=request.data, flatten=wants_flat, **request.task_args)
        if not isinstance(stream, TaskStream):
            raise ValueError(
                f"task {request.tasks!r} gives {type(stream).__name__}, not a task stream; continual "
                "methods run on streams such as 'split-digits' or 'split-mnist'"
            )
        module, _ = build_target(target_factory, stream.input_shape, stream.num_outputs, request.target_args)
        target = stateless(module)
        method = request.method_cls(target, stream.num_tasks, **request.method_args)
        return Plan(
            method=method,
            phases=continual_phases(method, stream, request.config),
            finish=_finish(method, stream),
            identity={"stream": stream.name, "spec": repr(target.spec), "target_name": target_name},
            summary=f"{request.method} on {stream.name} ({stream.num_tasks} tasks), "
            f"target {target_name} {target!r}",
        )
