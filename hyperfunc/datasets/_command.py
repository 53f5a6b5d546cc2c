"""``hyperfunc data``: prepare datasets from their public layouts, or fetch them (opt-in)."""

from __future__ import annotations

import argparse
import sys

from hyperfunc.datasets._fetch import SOURCES, DownloadError, fetch
from hyperfunc.datasets._omniglot import prepare_omniglot

__all__ = ["add_data_parser", "data_main"]


def add_data_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``data`` command (``prepare`` and ``fetch``) to the ``hyperfunc`` parser."""
    p_data = sub.add_parser(
        "data",
        help="prepare Omniglot from its zips, or download a dataset (opt-in)",
        description="Get datasets into the forms hyperfunc's loaders read (`hyperfunc run --data DIR`).",
    )
    actions = p_data.add_subparsers(dest="action", metavar="ACTION")
    p_prep = actions.add_parser(
        "prepare",
        help="build omniglot_28.npz from images_background/images_evaluation (zips or folders)",
        description="Build the fast cached omniglot_28.npz from Omniglot as its authors distribute it: "
        "images_background.zip and images_evaluation.zip (or their unpacked folders) in SRC.",
    )
    p_prep.add_argument("dataset", choices=["omniglot"], help="the dataset (omniglot)")
    p_prep.add_argument(
        "source", metavar="SRC", help="the folder holding images_background and images_evaluation"
    )
    p_prep.add_argument("--dest", metavar="DIR", help="where omniglot_28.npz goes (default: SRC)")
    width = max(map(len, SOURCES))
    listing = "\n".join(f"  {s.name:<{width}}  {s.description}" for s in SOURCES.values())
    p_fetch = actions.add_parser(
        "fetch",
        help="download a dataset from its public address, check its SHA-256 and unpack it",
        description="Download a dataset from its public address, check every file against its pinned "
        "SHA-256 (a file that differs is not kept) and unpack it.",
        epilog=f"datasets:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_fetch.add_argument("dataset", choices=sorted(SOURCES), help="the dataset")
    p_fetch.add_argument(
        "--dest", metavar="DIR", required=True, help="the data directory (created if missing)"
    )


def data_main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Execute a parsed ``hyperfunc data`` command; returns the exit status.

    A mistake in the input (a missing or incomplete folder) is one line and status 2;
    a failed download is one line and status 1.
    """
    try:
        if args.action == "prepare":
            path = prepare_omniglot(args.source, args.dest)
            print(f"wrote {path}; use it with `hyperfunc run --data {path.parent}`")
            return 0
        if args.action == "fetch":
            dest = fetch(args.dataset, args.dest)
            print(f"{args.dataset} is in {dest}; use it with `hyperfunc run --data {dest}`")
            return 0
    except DownloadError as e:
        print(f"hyperfunc data: error: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, ImportError) as e:
        print(f"hyperfunc data: error: {e}", file=sys.stderr)
        return 2
    parser.parse_args(["data", "--help"])  # no action: the command's help, status 0
    return 0
