"""``hyperfunc run`` for few-shot methods: build samplers, target and method by name, then train and test."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import hyperfunc
from hyperfunc._target import stateless
from hyperfunc.fewshot._episodes import Episodes
from hyperfunc.fewshot._method import feature_size
from hyperfunc.fewshot._runner import FewShotConfig, run_fewshot

__all__ = ["run_fewshot_command"]


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _sampler(factory: Callable[..., Any], args: argparse.Namespace, extra: dict[str, Any], test: bool) -> Any:
    kw: dict[str, Any] = {}
    if _accepts(factory, "root") and args.data is not None:
        kw["root"] = args.data
    if _accepts(factory, "split"):
        kw["split"] = "evaluation" if test else "background"
    if args.batch_size is not None and _accepts(factory, "batch_size"):
        kw["batch_size"] = args.batch_size
    if _accepts(factory, "seed"):
        kw["seed"] = args.seed + (10_000 if test else 0)  # test episodes never repeat training ones
    kw.update(extra)
    return factory(**kw)


def run_fewshot_command(args: argparse.Namespace, method_cls: type[Any]) -> int:
    """Execute ``hyperfunc run`` for a method of the ``fewshot`` family."""
    from hyperfunc._run_cli import build_target, parse_assignments

    method_args = parse_assignments(args.method_arg, "--method-arg")
    target_args = parse_assignments(args.target_arg, "--target-arg")
    task_args = parse_assignments(args.task_arg, "--task-arg")
    test_args = {**task_args, **parse_assignments(args.test_task_arg, "--test-task-arg")}
    factory = hyperfunc.tasks.get(args.tasks)
    train = _sampler(factory, args, task_args, test=False)
    test = _sampler(factory, args, test_args, test=True)
    if not hasattr(train, "batch") or not hasattr(train, "k_shot"):
        raise ValueError(
            f"task {args.tasks!r} gives {type(train).__name__}, not a few-shot sampler (Episodes, "
            f"Sinusoid); few-shot methods run on tasks such as 'omniglot' or 'sinusoid'"
        )
    episodic = isinstance(train, Episodes)
    example_shape = train.example_shape if episodic else tuple(train.batch(0).x_support.shape[2:])
    features = getattr(method_cls, "backbone_output", "features") == "features"
    if episodic:
        outputs = 0 if features else train.n_way
    else:
        outputs = int(train.batch(0).y_support.shape[-1])
    target_factory = hyperfunc.targets.get(args.target)
    tparams = inspect.signature(target_factory).parameters
    if features and "num_classes" not in tparams and "out_features" not in target_args:
        raise ValueError(
            f"{args.method} uses the target {args.target!r} as a feature extractor: give its feature "
            "size with --target-arg out_features=64 (conv4 needs nothing: it drops its classifier)"
        )
    torch.manual_seed(args.seed)
    module, flat = build_target(target_factory, example_shape, outputs, target_args)
    if flat and len(example_shape) > 1:
        module = nn.Sequential(nn.Flatten(), module)
    target = stateless(module)
    mparams = inspect.signature(method_cls).parameters
    kw: dict[str, Any] = {}
    if "n_way" in mparams and episodic:
        kw["n_way"], kw["k_shot"] = train.n_way, train.k_shot
    if "feature_dim" in mparams:
        kw["feature_dim"] = feature_size(target, example_shape)
    if "loss" in mparams and not episodic:
        kw["loss"] = "mse"
    kw.update(method_args)
    method = method_cls(target, **kw)
    out = Path(args.out or f"runs/{args.method}-{args.tasks}-seed{args.seed}")
    config = FewShotConfig(
        steps=args.steps, lr=args.lr, lr_schedule=args.lr_schedule, test_episodes=args.test_episodes,
        seed=args.seed, device=args.device, time_limit_minutes=args.time_limit,
    )
    identity = {
        "method_name": args.method, "target_name": args.target, "tasks_name": args.tasks,
        "method_args": method_args, "target_args": target_args, "task_args": task_args,
        "test_task_args": test_args,
    }
    print(f"hyperfunc run: {args.method} on {train!r}\n  test {test!r}\n  target {target!r}, out {out}")
    run_fewshot(method, train, test, config, out=out, resume=args.resume, overwrite=args.overwrite,
                show_progress=not args.no_progress, identity=identity)
    print(f"results: {out / 'results.json'}")
    return 0
