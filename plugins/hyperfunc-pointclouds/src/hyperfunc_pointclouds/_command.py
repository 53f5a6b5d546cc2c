"""``python -m hyperfunc_pointclouds``: train a HyperCloud, measure it on test clouds, save it."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hyperfunc_pointclouds._atomic import write_atomically
from hyperfunc_pointclouds._evaluate import evaluate
from hyperfunc_pointclouds._fit import fit
from hyperfunc_pointclouds._io import load_point_clouds
from hyperfunc_pointclouds._model import HyperCloud
from hyperfunc_pointclouds._plot import plot_clouds
from hyperfunc_pointclouds._shapes import ShapeClouds, shapes

__all__ = ["MODEL", "OUTPUTS", "PLOT", "RESULTS", "build_parser", "main"]

#: File names the command writes into ``--out``.
RESULTS = "results.json"
MODEL = "model.pt"
PLOT = "reconstructions.png"
OUTPUTS: tuple[str, ...] = (RESULTS, MODEL, PLOT)

_PROG = "hyperfunc-pointclouds"
_PLOTTED = 8  # test clouds shown in reconstructions.png

# defaults of the options that apply to one data source only (None on the command line
# means "not given", so giving one with the other source is an error)
_NUM_CLOUDS, _TEST_CLOUDS, _NUM_POINTS, _TEST_FRACTION = 100, 20, 512, 0.2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int (1, 2, ...), got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative int (0, 1, ...), got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"expected a positive number such as 1e-3, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < 1):
        raise argparse.ArgumentTypeError(f"expected a number with 0 < F < 1, got {text!r}")
    return value


def _existing_path(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(
            f"{text!r} does not exist; pass a .npy file or a folder of .npy files"
        )
    return path


def build_parser() -> argparse.ArgumentParser:
    """The command's :class:`argparse.ArgumentParser` (``--help`` lists every option)."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Train a HyperCloud (PointNet encoder -> hypernetwork -> per-object target) to "
            "reconstruct point clouds, measure the test Chamfer distance before and after "
            f"training, and write {RESULTS}, {MODEL} and {PLOT} into --out. The data are the "
            "procedural shapes task (train and test clouds drawn with different seeds) or "
            "the .npy point sets of --data (split into train and test clouds)."
        ),
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data", type=_existing_path, metavar="PATH",
        help="a .npy file ([N, 3] or [B, N, 3]) or a folder of .npy files; default: the "
        "procedural shapes task",
    )
    data.add_argument(
        "--num-clouds", type=_positive_int, metavar="K",
        help=f"shapes: training clouds (default {_NUM_CLOUDS})",
    )
    data.add_argument(
        "--test-clouds", type=_positive_int, metavar="K",
        help=f"shapes: test clouds (default {_TEST_CLOUDS})",
    )
    data.add_argument(
        "--num-points", type=_positive_int, metavar="N",
        help=f"points per cloud (shapes: default {_NUM_POINTS}; --data: subsample every cloud "
        "to N points, default: keep the files' size)",
    )
    data.add_argument(
        "--test-fraction", type=_fraction, metavar="F",
        help=f"--data: fraction of the clouds held out for testing (default {_TEST_FRACTION})",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--steps", type=_positive_int, default=1000, help="Adam steps (1000)")
    train.add_argument("--lr", type=_positive_float, default=1e-3, help="learning rate (1e-3)")
    train.add_argument(
        "--batch-size", type=_positive_int, default=16, metavar="B",
        help="clouds per training step and per evaluation pass (16)",
    )
    train.add_argument("--dim", type=_positive_int, default=64, help="embedding size (64)")
    train.add_argument(
        "--encoder-widths", type=_positive_int, nargs="+", default=[64, 128, 256], metavar="W",
        help="per-point layer widths of the PointNet encoder (64 128 256)",
    )
    train.add_argument(
        "--hypernet-hidden", type=_positive_int, nargs="+", default=[256], metavar="W",
        help="hidden layer widths of the hypernetwork (256)",
    )
    train.add_argument(
        "--seed", type=_seed, default=0,
        help="seeds the model, the batches, the ball samples and the data (0)",
    )
    train.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (cpu)")
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out", type=Path, metavar="DIR",
        help="folder for the run (default runs/hypercloud-<data>-seed<seed>); it must be new "
        "or empty unless --overwrite",
    )
    output.add_argument(
        "--overwrite", action="store_true",
        help=f"allow a non-empty --out: replace {', '.join(OUTPUTS)} there (other files are "
        "left alone)",
    )
    output.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check_out(parser: argparse.ArgumentParser, out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        parser.error(f"argument --out: {str(out)!r} is a file, not a folder; choose another --out")
    if out.is_dir() and not overwrite:
        entries = sorted(p.name for p in out.iterdir())
        if entries:
            listing = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            parser.error(
                f"argument --out: {str(out)!r} is not empty (it holds {listing}); pass "
                f"--overwrite to replace {', '.join(OUTPUTS)} in it, or choose another --out"
            )


def _device(parser: argparse.ArgumentParser, text: str) -> torch.device:
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        parser.error(f"argument --device: {text!r} is not a torch device; use e.g. cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"argument --device: {text!r} asked for, but CUDA is not available; use cpu")
    return device


def _load(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[ShapeClouds | Tensor, ShapeClouds | Tensor, dict[str, Any]]:
    """Train and test clouds, and what to record about where they came from."""
    if args.data is None:
        if args.test_fraction is not None:
            parser.error(
                "argument --test-fraction: applies to --data only; the shapes task draws "
                "--test-clouds separate test clouds"
            )
        n = _NUM_POINTS if args.num_points is None else args.num_points
        train_seed, test_seed = 2 * args.seed, 2 * args.seed + 1  # never shared between runs
        k_train = _NUM_CLOUDS if args.num_clouds is None else args.num_clouds
        k_test = _TEST_CLOUDS if args.test_clouds is None else args.test_clouds
        train = shapes(k_train, n, seed=train_seed)
        test = shapes(k_test, n, seed=test_seed)
        return train, test, {"data": "shapes", "train_seed": train_seed, "test_seed": test_seed}
    for flag, value in (("--num-clouds", args.num_clouds), ("--test-clouds", args.test_clouds)):
        if value is not None:
            parser.error(
                f"argument {flag}: applies to the shapes task only; with --data every cloud in "
                "PATH is used, split by --test-fraction"
            )
    try:
        clouds = load_point_clouds(args.data, num_points=args.num_points, seed=args.seed)
    except (OSError, ValueError) as exc:
        parser.error(f"argument --data: {exc}")
    k = clouds.shape[0]
    if k < 2:
        parser.error(
            f"argument --data: {str(args.data)!r} holds {k} cloud; at least 2 are needed, to "
            "hold some out for testing"
        )
    fraction = _TEST_FRACTION if args.test_fraction is None else args.test_fraction
    k_test = min(k - 1, max(1, round(k * fraction)))
    order = torch.randperm(k, generator=torch.Generator().manual_seed(args.seed))
    test_index = order[:k_test].sort().values
    train_index = order[k_test:].sort().values
    source = {
        "data": str(args.data.resolve()),
        "test_fraction": fraction,
        "test_indices": test_index.tolist(),
    }
    return clouds[train_index], clouds[test_index], source


def _points(clouds: ShapeClouds | Tensor) -> Tensor:
    return clouds.points if isinstance(clouds, ShapeClouds) else clouds


def _summary(result: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k} {v['chamfer']:.4g}" for k, v in result["per_kind"].items())
    return f"{result['chamfer']:.4g}" + (f" ({kinds})" if kinds else "")


def _version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (``sys.argv[1:]`` if ``None``); return the exit status.

    Trains a :class:`HyperCloud` with :func:`fit` on the training clouds,
    measures the test clouds with :func:`evaluate` before and after training, and
    writes into ``--out``: ``model.pt`` (the state dict, on the CPU),
    ``reconstructions.png`` (test inputs above their reconstructions, when
    matplotlib is installed) and, last, ``results.json``. Every file is written
    atomically. Bad arguments, a missing or unreadable ``--data`` and a non-empty
    ``--out`` without ``--overwrite`` print a message naming the option to
    stderr and raise ``SystemExit(2)`` before anything is written.

    Examples:
        >>> import pathlib, tempfile
        >>> from hyperfunc_pointclouds.__main__ import main
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> main(["--steps", "2", "--num-clouds", "2", "--test-clouds", "2", "--num-points", "32",
        ...       "--dim", "8", "--encoder-widths", "16", "--hypernet-hidden", "8",
        ...       "--no-progress", "--out", str(out)])  # doctest: +ELLIPSIS
        hyperfunc-pointclouds: ...
        0
        >>> sorted(p.name for p in out.iterdir() if p.name != "reconstructions.png")
        ['model.pt', 'results.json']
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    device = _device(parser, args.device)
    if args.out is None:
        name = "shapes" if args.data is None else args.data.stem or "data"
        args.out = Path("runs") / f"hypercloud-{name}-seed{args.seed}"
    out: Path = args.out
    _check_out(parser, out, args.overwrite)
    train, test, source = _load(parser, args)
    train_points, test_points = _points(train), _points(test)

    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # seeded weights, global random state untouched
        torch.manual_seed(args.seed)
        model = HyperCloud(
            dim=args.dim,
            encoder_widths=tuple(args.encoder_widths),
            hypernet_hidden=tuple(args.hypernet_hidden),
        )
    model.to(device)
    out.mkdir(parents=True, exist_ok=True)
    for stale in OUTPUTS:  # --overwrite: never leave files of an earlier run next to this one
        (out / stale).unlink(missing_ok=True)
    print(
        f"{_PROG}: HyperCloud(dim={args.dim}) on {train_points.shape[0]} training and "
        f"{test_points.shape[0]} test clouds of {train_points.shape[1]} points "
        f"({source['data']}), {args.steps} steps, out {out}"
    )

    def measure() -> dict[str, Any]:
        return evaluate(model, test, batch_size=args.batch_size, seed=args.seed)

    before = measure()
    print(f"test Chamfer before training: {_summary(before)}")
    fit_start = time.perf_counter()
    history = fit(
        model, train, steps=args.steps, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
        progress=not args.no_progress,
    )
    seconds = time.perf_counter() - fit_start
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    write_atomically(out / MODEL, lambda tmp: torch.save(state, tmp))
    after = measure()
    print(f"test Chamfer after {args.steps} steps ({seconds:.1f} s): {_summary(after)}")

    shown = test_points[:_PLOTTED]
    with torch.no_grad():
        recon = model.reconstruct(
            shown.to(device=device, dtype=next(model.parameters()).dtype),
            shown.shape[1],
            generator=torch.Generator().manual_seed(args.seed),
        )
    if isinstance(test, ShapeClouds):
        titles = [test.kinds[int(i)] for i in test.labels[:_PLOTTED]]
    else:
        titles = [f"cloud {i}" for i in source["test_indices"][:_PLOTTED]]
    plot = plot_clouds({"input": shown, "reconstruction": recon}, out / PLOT, titles=titles)

    per_kind = {
        kind: {
            "before": before["per_kind"][kind]["chamfer"],
            "after": value["chamfer"],
            "num_clouds": value["num_clouds"],
        }
        for kind, value in after["per_kind"].items()
    }
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    results: dict[str, Any] = {
        "chamfer_before": before["chamfer"],
        "chamfer_after": after["chamfer"],
        "per_kind": per_kind,
        "steps": len(history),
        "seconds": round(seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
        "train_loss_first": history[0],
        "train_loss_last": history[-1],
        "train_clouds": int(train_points.shape[0]),
        "test_clouds": int(test_points.shape[0]),
        "num_points": int(train_points.shape[1]),
        "eval_samples": after["n_samples"],
        **source,
        "settings": settings,
        "files": {"model": MODEL, "plot": None if plot is None else PLOT},
        "versions": {
            "hyperfunc_pointclouds": _version("hyperfunc-pointclouds"),
            "hyperfunc": _version("hyperfunc"),
            "torch": torch.__version__,
        },
    }
    write_atomically(
        out / RESULTS, lambda tmp: tmp.write_text(json.dumps(results, indent=2) + "\n")
    )
    written = [out / RESULTS, out / MODEL] + ([] if plot is None else [plot])
    print(f"wrote {', '.join(str(p) for p in written)}")
    if plot is None:
        print(
            f"({PLOT} skipped: matplotlib is not installed; pip install "
            '"hyperfunc-pointclouds[plot]")',
            file=sys.stderr,
        )
    return 0
