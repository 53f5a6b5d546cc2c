"""Redraw the tutorials' pictures from real runs: ``python docs/make_figures.py [--data DIR] [NAME ...]``.

Each figure set is one ``hyperfunc run`` with the settings below (the captions in the
tutorials quote them); the pictures the run writes into its folder (``curves.png`` from
``metrics.jsonl``, ``accuracy.png``, ``episode.png``, ``reconstructions.png``) are copied
to ``docs/_static/tutorial-NAME-FILE``. Run by hand, one set at a time on a 2-core machine
(a few minutes each); nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
RUNS = DOCS / "_build" / "figure-runs"

#: name -> the ``hyperfunc run`` arguments (``--data`` and ``--out`` are added).
RUNS_FOR = {
    "start": [],  # the README's main job: HNET on split digits
    "continual": [
        "--method", "hnet", "--tasks", "split-mnist", "--target", "mlp",
        "--target-arg", "hidden=[400,400]", "--steps", "1500", "--batch-size", "128",
    ],
    "fewshot": [
        "--method", "hypermaml", "--tasks", "omniglot", "--target", "conv4",
        "--task-arg", "n_way=5", "--task-arg", "k_shot=1", "--task-arg", "q_query=5",
        "--test-task-arg", "q_query=15", "--batch-size", "4", "--steps", "1500", "--lr", "3e-3",
        "--lr-schedule", "cosine", "--method-arg", "support_loss=true", "--test-episodes", "200",
    ],
    "fields": [
        "--method", "image-hypernet", "--tasks", "cifar10-images", "--steps", "1500",
    ],
}  # fmt: skip
PICTURES = ("curves.png", "accuracy.png", "episode.png", "reconstructions.png")


def main() -> int:
    """Run the chosen figure sets and copy their pictures into docs/_static."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"figure sets: {', '.join(RUNS_FOR)} (default: all)")
    parser.add_argument("--data", default=str(DOCS.parents[1] / "shared" / "data"), help="the data folder")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in RUNS_FOR]
    if unknown:
        parser.error(f"unknown figure set(s) {unknown}; choose from {', '.join(RUNS_FOR)}")
    for name in args.names or list(RUNS_FOR):
        out = RUNS / name
        command = ["hyperfunc", "run", *RUNS_FOR[name], "--data", args.data, "--out", str(out)]
        print("$", shlex.join(command), flush=True)
        start = time.perf_counter()
        run = [sys.executable, "-m", "hyperfunc", *command[1:], "--overwrite", "--no-progress"]
        subprocess.run(run, check=True)
        print(f"{name}: {(time.perf_counter() - start) / 60:.1f} min", flush=True)
        for picture in PICTURES:
            if (out / picture).is_file():
                shutil.copyfile(out / picture, DOCS / "_static" / f"tutorial-{name}-{picture}")
                print(f"  -> docs/_static/tutorial-{name}-{picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
