"""The ``hyperfunc`` command line."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

import hyperfunc
from hyperfunc._registry import Registry
from hyperfunc.datasets._command import add_data_parser, data_main
from hyperfunc.run._command import run_main

__all__ = ["main"]


def _registries() -> dict[str, Registry[Any]]:
    return {
        "targets": hyperfunc.targets.registry,
        "embeddings": hyperfunc.embeddings.registry,
        "hypernets": hyperfunc.hypernets.registry,
        "tasks": hyperfunc.tasks.registry,
        "methods": hyperfunc.methods.registry,
        "inner": hyperfunc.inner.registry,
        "families": hyperfunc.run.families,
    }


_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")


def _plain(text: str) -> str:
    """A docstring line without reST markup, for a terminal.

    Examples:
        >>> _plain("Uses :class:`~hyperfunc.targets.FourierFeatures` with ``w0`` set")
        'Uses FourierFeatures with w0 set'
        >>> _plain("see :func:`hyperfunc.datasets.load_cifar10`")
        'see hyperfunc.datasets.load_cifar10'
    """

    def role(m: re.Match[str]) -> str:
        name = m.group(1).strip()
        return name.rsplit(".", 1)[-1] if m.group(0)[m.group(0).index("`") + 1] == "~" else name

    return _ROLE.sub(role, text).replace("``", "")


def _list(kinds: Sequence[str]) -> int:
    regs = _registries()
    for i, kind in enumerate(kinds):
        entries = regs[kind].entries()
        if i:
            print()
        print(f"{kind} ({len(entries)}):")
        if not entries:
            print("  (none installed)")
        w_name = max((len(e.name) for e in entries), default=0)
        w_src = max((len(e.source) for e in entries), default=0)
        for e in entries:
            print(f"  {e.name:<{w_name}}  {e.source:<{w_src}}  {_plain(e.description)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from hyperfunc._demo import run_demo

    return run_demo(steps=args.steps, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hyperfunc`` command."""
    parser = argparse.ArgumentParser(
        prog="hyperfunc", description="Functional hypernetworks for meta-learning."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"hyperfunc {hyperfunc.__version__} (distribution {hyperfunc._DISTRIBUTION})",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_list = sub.add_parser("list", help="list registered targets, embeddings, hypernets, ...")
    p_list.add_argument(
        "kinds", nargs="*", metavar="KIND",
        help=f"which registries to list (default: all of {', '.join(_registries())})",
    )
    sub.add_parser(
        "run", add_help=False,
        help="train a method through the run layer (default: HNET on split digits, ~1 min); "
        "`hyperfunc run --help` lists its flags",
    )
    p_demo = sub.add_parser(
        "demo", help="train a task-conditioned hypernetwork on built-in synthetic tasks"
    )
    p_demo.add_argument("--steps", type=int, default=600, help="training steps (default 600)")
    p_demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_data_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:  # its flags depend on the method's family: it parses them itself
        return run_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        unknown = [k for k in args.kinds if k not in _registries()]
        if unknown:
            parser.error(f"unknown kind(s) {unknown}; choose from {', '.join(_registries())}")
        return _list(args.kinds or list(_registries()))
    if args.command == "demo":
        return _demo(args)
    if args.command == "data":
        return data_main(args, parser)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
