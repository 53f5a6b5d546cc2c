"""Cost of HNET's output regulariser: one training step with 10 earlier tasks.

Compares, in one run with interleaved repeats (chunked hypernetwork, MLP 784-100-100-10
target, batch 128, one thread by default, as in the issue):

* plain step: the first task (no regulariser);
* batched: 10 earlier tasks regularised in the same hypernetwork call as the current one;
* loop: one hypernetwork call per earlier task (hypnettorch's way);
* subset: a random subset of 3 earlier tasks per step (batched).

    python benchmarks/bench_regulariser.py            # print
    python benchmarks/bench_regulariser.py --record   # ... and write RESULTS.md
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable

import torch
from _results import record_section
from torch import nn

import hyperfunc as hf
from hyperfunc.continual import HNET, TaskBatch

TARGET_RATIO = 1.4  # batched must be at least this much faster than the loop
HYPNETTORCH = "hypnettorch 0.0.4 itself (ChunkedHMLP + calc_fix_target_reg), 10 earlier tasks"


def make_step(old_tasks: int, **kw: object) -> Callable[[], None]:
    target = hf.stateless(hf.targets.mlp(784, 10, hidden=(100, 100)))
    method = HNET(target, old_tasks + 1, **kw)  # type: ignore[arg-type]
    method.begin_task(old_tasks)
    with torch.no_grad():  # stored outputs differ from the current ones, as after training
        method.old_outputs += 0.01 * torch.randn_like(method.old_outputs)
    opt = torch.optim.Adam(method.trainable(old_tasks), lr=1e-4)
    batch = TaskBatch(old_tasks, torch.rand(128, 784), torch.randint(0, 10, (128,)))

    def step() -> None:
        loss, _ = method.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def make_hypnettorch_step(old_tasks: int) -> Callable[[], None] | None:
    """The same step with hypnettorch's own ChunkedHMLP and ``calc_fix_target_reg``."""
    try:
        from hypnettorch.hnets import ChunkedHMLP
        from hypnettorch.utils import hnet_regularizer as hreg
    except ImportError:
        return None
    shapes = [[100, 784], [100], [100, 100], [100], [10, 100], [10]]
    hnet = ChunkedHMLP(shapes, chunk_size=4000, chunk_emb_size=32, cond_in_size=32,
                       layers=(100, 100), num_cond_embs=old_tasks + 1, verbose=False)
    targets = hreg.get_current_targets(old_tasks, hnet)
    targets = [[w + 0.01 * torch.randn_like(w) for w in ws] for ws in targets]
    opt = torch.optim.Adam(hnet.parameters(), lr=1e-4)
    x, y = torch.rand(128, 784), torch.randint(0, 10, (128,))

    def step() -> None:
        w = hnet.forward(cond_id=old_tasks)
        h = torch.relu(nn.functional.linear(x, w[0], w[1]))
        h = torch.relu(nn.functional.linear(h, w[2], w[3]))
        loss = nn.functional.cross_entropy(nn.functional.linear(h, w[4], w[5]), y)
        loss = loss + 0.01 * hreg.calc_fix_target_reg(hnet, old_tasks, targets=targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--quick", action="store_true", help="smoke test (few repeats)")
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    repeats = 3 if a.quick else a.repeats
    variants = {
        "plain step (no earlier task)": make_step(0),
        "batched regulariser, 10 earlier tasks": make_step(10),
        "per-task loop (hypnettorch's way), 10 earlier tasks": make_step(10, batched_regulariser=False),
        "batched, random 3 of 10 earlier tasks": make_step(10, reg_subset=3),
    }
    hypnettorch_step = make_hypnettorch_step(10)
    if hypnettorch_step is not None:
        variants[HYPNETTORCH] = hypnettorch_step
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():  # warm-up
        for _ in range(3):
            fn()
    order = list(variants)
    for _ in range(repeats):
        random.shuffle(order)
        for name in order:
            t0 = time.perf_counter()
            variants[name]()
            times[name].append(1000 * (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["plain step (no earlier task)"]
    lines = ["| variant | median ms | × plain step |", "|---|---:|---:|"]
    lines += [f"| {k} | {v:.1f} | {v / base:.2f} |" for k, v in med.items()]
    loop = med["per-task loop (hypnettorch's way), 10 earlier tasks"]
    ratio = loop / med["batched regulariser, 10 earlier tasks"]
    ok = ratio >= TARGET_RATIO
    verdict = f"- loop / batched = {ratio:.2f}× (target ≥ {TARGET_RATIO}×): **{'PASS' if ok else 'FAIL'}**"
    if HYPNETTORCH in med:
        own = med[HYPNETTORCH] / med["batched regulariser, 10 earlier tasks"]
        verdict += f"; hypnettorch itself / batched = {own:.2f}×"
    print("\n".join([*lines, "", verdict]))
    if a.record and not a.quick:
        record_section("bench_regulariser", [
            "## HNET regulariser cost (CPU)",
            "",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch {torch.__version__}, "
            f"{a.threads} thread(s); {repeats} interleaved repeats",
            f"- command: `python benchmarks/bench_regulariser.py --threads {a.threads} --record`",
            "- one full training step (loss, backward, Adam) of HNET: chunked hypernetwork "
            "(chunks of 4000, chunk embeddings of 32, hidden 100-100, task embeddings of 32), "
            "MLP 784-100-100-10 target, batch 128",
            "",
            *lines,
            "",
            verdict,
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
