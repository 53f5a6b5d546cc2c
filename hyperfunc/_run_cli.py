"""``hyperfunc run``: a method on a task stream with a target, all looked up by name."""

from __future__ import annotations

import argparse
import inspect
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

import hyperfunc
from hyperfunc._target import stateless

__all__ = ["add_run_parser", "run_command", "build_target", "parse_assignments"]


def parse_assignments(items: Sequence[str], what: str) -> dict[str, Any]:
    """``["a=1", "b=[2,3]", "c=relu"]`` → ``{"a": 1, "b": [2, 3], "c": "relu"}`` (JSON values)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} must look like key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def build_target(
    factory: Callable[..., nn.Module],
    input_shape: Sequence[int],
    num_outputs: int,
    args: dict[str, Any],
) -> tuple[nn.Module, bool]:
    """Call a target factory, filling the input/output sizes it asks for by parameter name.

    Returns the module and whether it wants flat vector inputs (``in_features``).
    """
    params = inspect.signature(factory).parameters
    kw: dict[str, Any] = {}
    flat = "in_features" in params
    if flat:
        kw["in_features"] = math.prod(input_shape)
    if "in_channels" in params:
        kw["in_channels"] = input_shape[0]
    if "image_size" in params and len(input_shape) == 3:
        kw["image_size"] = input_shape[-1]
    for name in ("out_features", "num_classes"):
        if name in params:
            kw[name] = num_outputs
    unknown = [k for k in args if k not in params]
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise ValueError(f"the target has no argument(s) {unknown}; it takes {list(params)}")
    kw.update(args)
    return factory(**kw), flat


def add_run_parser(sub: Any) -> None:
    """Add the ``run`` sub-command to an argparse sub-parser collection."""
    p = sub.add_parser(
        "run",
        help="train a method on tasks (default: HNET on split digits, ~1 min)",
        description="Train a method and measure it: a continual-learning method on a task stream "
        "(accuracy matrix, forgetting), or a few-shot method on an episode sampler (meta-training, "
        "then mean ± 95 %% interval over test episodes). Method, tasks and target are names from "
        "the registries (see `hyperfunc list`).",
    )
    p.add_argument("--method", default="hnet", help="registered method (default hnet)")
    p.add_argument("--tasks", default="split-digits", help="registered task stream (default split-digits)")
    p.add_argument("--target", default=None,
                   help="registered target (default: the method's default_target, else mlp; "
                   "siren for the image-function methods)")
    p.add_argument(
        "--method-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method argument, JSON value (e.g. beta=0.05); repeatable",
    )
    p.add_argument(
        "--target-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="target argument (e.g. hidden=[100,100]); repeatable",
    )
    p.add_argument(
        "--task-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task argument (e.g. num_tasks=5, or n_way=5 k_shot=1); repeatable",
    )
    p.add_argument(
        "--test-task-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="few-shot: task argument for the test sampler only (e.g. q_query=15); repeatable",
    )
    p.add_argument("--data", default=None, help="data directory (default: $HYPERFUNC_DATA)")
    p.add_argument("--steps", type=int, default=500,
                   help="optimiser steps per task (continual) or meta-training steps (few-shot); default 500")
    p.add_argument("--batch-size", type=int, default=None,
                   help="minibatch size (continual, default 64) or episodes per meta-batch "
                   "(few-shot, default: the task's)")
    p.add_argument("--test-episodes", type=int, default=600,
                   help="few-shot: test episodes to score (default 600)")
    p.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                   help="few-shot: stop meta-training after this many minutes (default: none)")
    p.add_argument("--mask-rate", type=float, default=0.0,
                   help="image functions: share of training images shown with random pixels missing "
                   "(trains inpainting; default 0)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="learning rate over each task (default constant)")
    p.add_argument("--device", default="cpu", help="torch device to train on (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", default=None, help="run directory (default runs/METHOD-TASKS-seedSEED)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run_command(args: argparse.Namespace) -> int:
    """Execute ``hyperfunc run`` with parsed arguments; returns the exit status."""
    from hyperfunc.continual import RunConfig, run_continual

    if args.threads:
        torch.set_num_threads(args.threads)
    method_cls = hyperfunc.methods.get(args.method)
    family = getattr(method_cls, "family", None)
    if args.target is None:  # a method may name the target it is usually run with
        args.target = getattr(method_cls, "default_target", "mlp")
    if not 0.0 <= args.mask_rate <= 1.0:  # checked before any run directory is made
        raise ValueError(
            f"--mask-rate must be in [0, 1] (the share of images shown masked), got {args.mask_rate}"
        )
    if args.mask_rate and family != "fields":
        raise ValueError(
            f"--mask-rate applies to image → function methods only (family 'fields'); method "
            f"{args.method!r} is of family {family!r}: drop --mask-rate"
        )
    if family == "fewshot":
        from hyperfunc.fewshot._command import run_fewshot_command

        return run_fewshot_command(args, method_cls)
    if family == "fields":
        from hyperfunc.fields._command import run_fields_command

        return run_fields_command(args, method_cls)
    if family != "continual":
        raise ValueError(f"method {args.method!r} (family {family!r}) can't be run by `hyperfunc run`")
    method_args = parse_assignments(args.method_arg, "--method-arg")
    target_args = parse_assignments(args.target_arg, "--target-arg")
    task_args = parse_assignments(args.task_arg, "--task-arg")
    stream_factory = hyperfunc.tasks.get(args.tasks)
    target_factory = hyperfunc.targets.get(args.target)
    wants_flat = "in_features" in inspect.signature(target_factory).parameters
    stream = stream_factory(root=args.data, flatten=wants_flat, **task_args)
    torch.manual_seed(args.seed)
    module, _ = build_target(target_factory, stream.input_shape, stream.num_outputs, target_args)
    target = stateless(module)
    method = method_cls(target, stream.num_tasks, **method_args)
    out = Path(args.out or f"runs/{args.method}-{args.tasks}-seed{args.seed}")
    config = RunConfig(steps_per_task=args.steps, batch_size=args.batch_size or 64, lr=args.lr,
                       seed=args.seed, lr_schedule=args.lr_schedule, device=args.device)
    identity = {
        "method_name": args.method,
        "target_name": args.target,
        "tasks_name": args.tasks,
        "method_args": method_args,
        "target_args": target_args,
        "task_args": task_args,
    }
    print(
        f"hyperfunc run: {args.method} on {stream.name} ({stream.num_tasks} tasks), "
        f"target {args.target} {target!r}, out {out}"
    )
    run_continual(
        method,
        stream,
        config,
        out=out,
        resume=args.resume,
        overwrite=args.overwrite,
        show_progress=not args.no_progress,
        identity=identity,
    )
    print(f"results: {out / 'results.json'}")
    return 0
