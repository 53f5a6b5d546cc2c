"""``hyperfunc run``: a thin layer over :func:`~hyperfunc.run.train` — flags in, one line out on mistakes."""

from __future__ import annotations

import argparse
import os
import pickle
import signal
import sys
import typing
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs
import torch

import hyperfunc
import hyperfunc.distributed as hd
from hyperfunc._errors import RegistryError
from hyperfunc.run._args import parse_assignments
from hyperfunc.run._config import RunConfig
from hyperfunc.run._errors import RunError, UsageError
from hyperfunc.run._family import Family, Request, families
from hyperfunc.run._folder import RESULTS, RunFolder
from hyperfunc.run._loop import on_rank_0, train

__all__ = ["run_main", "build_run_parser"]

PROG = "hyperfunc run"
#: Errors of setting a run up (bad names, arguments, data) that are the user's to fix: one line, exit 2.
SETUP_ERRORS = (
    ValueError,
    TypeError,
    LookupError,
    OSError,
    ImportError,
    EOFError,
    zipfile.BadZipFile,
    pickle.UnpicklingError,
    RegistryError,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_config_flags(parser: argparse.ArgumentParser, config: type[RunConfig]) -> None:
    hints = typing.get_type_hints(config)
    group = parser.add_argument_group("settings")
    for f in attrs.fields(config):
        help_text = f.metadata.get("help", "")
        if hints[f.name] is bool:
            if f.default:
                group.add_argument(
                    _flag(f"no_{f.name}"), dest=f.name, action="store_false", help=f"don't {help_text}"
                )
            else:
                group.add_argument(_flag(f.name), dest=f.name, action="store_true", help=help_text)
            continue
        kind = next(
            (t for t in (int, float, str) if t in typing.get_args(hints[f.name]) or t is hints[f.name]), str
        )
        group.add_argument(
            _flag(f.name),
            dest=f.name,
            type=kind,
            default=f.default,
            choices=f.metadata.get("choices"),
            metavar=None if f.metadata.get("choices") else f.name.upper().split("_")[-1],
            help=help_text if "default" in help_text else f"{help_text} (default: {f.default})",
        )


def build_run_parser(family: Family) -> argparse.ArgumentParser:
    """The parser of ``hyperfunc run`` for a method of ``family``: the common flags, its settings, its own."""
    p = _Parser(
        prog=PROG,
        description=f"Train a method through hyperfunc's run layer and measure it. Flags of family "
        f"{family.name!r} are shown; another --method may bring other flags. Method, tasks and target "
        "are names from the registries (see `hyperfunc list`).",
    )
    p.add_argument("--method", default="hnet", help="registered method (default hnet)")
    p.add_argument(
        "--tasks", default=None, help=f"registered task (default for this family: {family.default_tasks})"
    )
    p.add_argument("--target", default=None, help="registered target (default: the method's own)")
    for what, example in (("method", "beta=0.05"), ("target", "hidden=[100,100]"), ("task", "num_tasks=5")):
        p.add_argument(
            f"--{what}-arg",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"{what} argument, a JSON value (e.g. {example}); repeatable",
        )
    p.add_argument("--data", default=None, help="data directory (default: $HYPERFUNC_DATA)")
    p.add_argument("--out", default=None, help="run folder (default runs/METHOD-TASKS-seedSEED)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    g.add_argument("--overwrite", action="store_true", help="replace the hyperfunc run in --out")
    _add_config_flags(p, family.config)
    family.add_arguments(p.add_argument_group(f"{family.name} options"))
    return p


def _family_of(method: str) -> tuple[Any, Family]:
    method_cls = hyperfunc.methods.get(method)
    name = getattr(method_cls, "family", None)
    if not isinstance(name, str):
        raise UsageError(
            f"method {method!r} names no family (a 'family' class attribute), so hyperfunc run can't run it"
        )
    return method_cls, families.get(name)()


def _foreign_flags(extras: Sequence[str], family: Family) -> str:
    """Say which family the unrecognised flags belong to, if another one has them."""
    flags = sorted({e.split("=")[0] for e in extras if e.startswith("--")})
    if not flags:
        return f"unrecognized arguments: {' '.join(extras)}"
    owners: dict[str, list[str]] = {}
    for name in families.names():
        try:
            other = families.get(name)()
        except RegistryError:
            continue
        known = {opt for a in build_run_parser(other)._actions for opt in a.option_strings}
        for flag in flags:
            if flag in known:
                owners.setdefault(flag, []).append(name)
    parts = [
        f"{flag} (a flag of family {', '.join(owners[flag])})" if flag in owners else flag for flag in flags
    ]
    return (
        f"{', '.join(parts)}: not a flag of family {family.name!r}; drop it, or see "
        f"`hyperfunc run --method METHOD --help`"
    )


def _family_in(argv: Sequence[str]) -> tuple[Any, Family]:
    """The method class and the family named by ``--method`` in ``argv`` (default hnet)."""
    pre = _Parser(add_help=False)
    pre.add_argument("--method", default="hnet")
    return _family_of(pre.parse_known_args(argv)[0].method)


def _request(argv: Sequence[str]) -> tuple[Request, Family, RunFolder, argparse.Namespace]:
    method_cls, family = _family_in(argv)
    parser = build_run_parser(family)
    args, extras = parser.parse_known_args(argv)
    if extras:
        raise UsageError(_foreign_flags(extras, family))
    fields = {f.name for f in attrs.fields(family.config)}
    config = family.config(**{k: v for k, v in vars(args).items() if k in fields})
    tasks = args.tasks or family.default_tasks
    out = RunFolder(args.out or f"runs/{args.method}-{tasks}-seed{config.seed}")
    world = hd.init(config.device, timeout=config.collective_timeout)  # under torchrun / srun: join them
    # reads only, nothing is made yet; rank 0 looks, and its verdict is every process's
    on_rank_0(lambda: out.check(resume=args.resume, overwrite=args.overwrite), world)
    common = {
        "method",
        "tasks",
        "target",
        "method_arg",
        "target_arg",
        "task_arg",
        "data",
        "out",
        "resume",
        "overwrite",
    }
    request = Request(
        method=args.method,
        method_cls=method_cls,
        tasks=tasks,
        target=args.target,
        method_args=parse_assignments(args.method_arg, "--method-arg"),
        target_args=parse_assignments(args.target_arg, "--target-arg"),
        task_args=parse_assignments(args.task_arg, "--task-arg"),
        data=args.data,
        config=config,
        options={k: v for k, v in vars(args).items() if k not in fields and k not in common},
        tasks_given=args.tasks is not None,
    )
    return request, family, out, args


def _fail(exc: BaseException, status: int = 2) -> int:
    world = hd.current()
    if world.main or isinstance(exc, hd.DistributedError):  # rank 0 says what every rank would
        text = " ".join(str(exc).split()) or type(exc).__name__
        rank = "" if world.size == 1 else f" (rank {world.rank})"
        print(f"{PROG}: error{rank}: {text}", file=sys.stderr)
    return status


def run_main(argv: Sequence[str]) -> int:
    """Execute ``hyperfunc run ARGV``; returns the exit status (a user's mistake: one line, status 2)."""
    if any(a in ("-h", "--help") for a in argv):
        try:
            build_run_parser(_family_in(argv)[1]).print_help()
            return 0
        except (RunError, *SETUP_ERRORS) as exc:
            return _fail(exc)
    old_term = signal.signal(signal.SIGTERM, _terminate)  # SIGTERM ends like Ctrl-C: one line, status 130
    status = None
    try:
        status = _run(argv)
        return status
    finally:
        signal.signal(signal.SIGTERM, old_term)
        several = hd.current().size > 1
        hd.shutdown()
        if several and status is not None:
            # gloo's threads can abort the interpreter's finalisation (PyTorch #179291): the run is
            # complete and its files are closed, so end here
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run(argv: Sequence[str]) -> int:
    try:
        request, family, out, args = _request(argv)
        if request.config.threads is not None:
            torch.set_num_threads(request.config.threads)
        torch.manual_seed(request.config.seed)
        plan = family.build(request)
    except (RunError, hd.DistributedError, *SETUP_ERRORS) as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return _fail(RunError("interrupted before the run started; nothing was written"), 130)
    identity = {
        "method_name": request.method,
        "tasks_name": request.tasks,
        "target_name": request.target,
        "method_args": dict(request.method_args),
        "target_args": dict(request.target_args),
        "task_args": dict(request.task_args),
        **plan.identity,
    }
    world = hd.current()
    if world.main:
        where = "" if world.size == 1 else f" on {world.size} processes ({world.backend})"
        print(f"{PROG}: {plan.summary}{where}; out {out.path}")
    try:
        train(
            plan.method,
            plan.phases,
            request.config,
            out=out.path,
            resume=args.resume,
            overwrite=args.overwrite,
            identity=identity,
            finish=plan.finish,
        )
    except RunError as exc:
        return _fail(exc, exc.exit_status)
    except hd.DistributedError as exc:
        return _fail(
            hd.DistributedError(
                f"{exc}; the last checkpoint in {str(out.path)!r} is kept: --resume continues"
            ),
            1,
        )
    except KeyboardInterrupt:
        return _fail(
            RunError(
                f"interrupted; the last checkpoint in {str(out.path)!r} is kept: run the same "
                "command with --resume to continue from it"
            ),
            130,
        )
    if world.main:
        print(f"results: {Path(out.path) / RESULTS}")
    return 0
