"""Second-order MAML meta-step: hyperfunc (batched over tasks) vs the ``higher`` package.

Sinusoid regression, MLP 1→40→40→1, 10 support and 10 query points per task, 5 inner SGD
steps (lr 0.01), second order; one meta-step = query loss at the adapted weights + backward
to the initial weights. hyperfunc adapts all tasks in one batched call
(:class:`hyperfunc.fewshot.MAML`, :func:`hyperfunc.inner.adapt_batched`); ``higher`` loops
over the tasks with ``innerloop_ctx(copy_initial_weights=False)``. Both start from the
same weights and the script checks that their meta-gradients agree within 1e-5 before
timing. Interleaved repeats, medians, in one run.

    python benchmarks/bench_meta_step.py            # print
    python benchmarks/bench_meta_step.py --record   # ... and write RESULTS.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from _results import record_section
from torch import nn

import hyperfunc as hf
from hyperfunc.fewshot import MAML, Sinusoid

TARGETS = {25: 10.0, 100: 35.0}  # tasks -> required speed-up over higher
STEPS, LR = 5, 0.01


def make(tasks: int) -> tuple[Callable[[], list[torch.Tensor]], Callable[[], list[torch.Tensor]]]:
    torch.manual_seed(0)
    module = hf.targets.mlp(1, 1, hidden=(40, 40))
    target = hf.stateless(module)
    maml = MAML(target, inner_steps=STEPS, inner_lr=LR, loss="mse",
                params={k: v.detach().clone() for k, v in module.named_parameters()})
    batch = Sinusoid(k_shot=10, q_query=10, batch_size=tasks, seed=1).batch(0)
    try:
        import higher
    except ImportError:
        higher = None

    def ours() -> list[torch.Tensor]:
        maml.zero_grad(set_to_none=True)
        loss, _ = maml.loss(batch)
        loss.backward()
        return [maml.theta[k.replace(".", "/")].grad for k, _ in module.named_parameters()]

    def theirs() -> list[torch.Tensor]:
        assert higher is not None
        module.zero_grad(set_to_none=True)
        opt = torch.optim.SGD(module.parameters(), lr=LR)
        for i in range(tasks):
            with higher.innerloop_ctx(module, opt, copy_initial_weights=False) as (fmodel, diffopt):
                for _ in range(STEPS):
                    diffopt.step(nn.functional.mse_loss(fmodel(batch.x_support[i]), batch.y_support[i]))
                loss = nn.functional.mse_loss(fmodel(batch.x_query[i]), batch.y_query[i]) / tasks
                loss.backward()
        return [p.grad for p in module.parameters()]

    return ours, theirs


def ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--quick", action="store_true", help="smoke test (few repeats, 25 tasks)")
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    lines = ["| tasks | hyperfunc ms | higher ms | speed-up | target | max meta-grad diff |",
             "|---:|---:|---:|---:|---:|---:|"]
    ok = True
    for tasks, goal in TARGETS.items():
        if a.quick and tasks != 25:
            continue
        ours, theirs = make(tasks)
        try:
            ref = [g.clone() for g in theirs()]
        except AssertionError:
            print("higher is not installed: pip install higher==0.2.1")
            return 0 if a.quick else 1
        diff = max(float((g - r).abs().max()) for g, r in zip(ours(), ref))
        ok &= diff < 1e-5
        if a.quick and diff >= 1e-5:
            print(f"meta-gradients differ from higher's by {diff:.2e} (must be < 1e-5)")
            return 1
        reps = 2 if a.quick else a.repeats
        for fn in (ours, theirs):  # warm-up
            fn()
        t_ours, t_theirs = [], []
        for _ in range(reps):  # interleaved
            t_ours.append(ms(ours))
            t_theirs.append(ms(theirs))
        mo, mt = statistics.median(t_ours), statistics.median(t_theirs)
        ok &= mt / mo >= goal
        lines.append(f"| {tasks} | {mo:.1f} | {mt:.1f} | {mt / mo:.1f}× | ≥ {goal:g}× | {diff:.1e} |")
    verdict = f"- all targets (speed-up and gradients within 1e-5): **{'PASS' if ok else 'FAIL'}**"
    print("\n".join([*lines, "", verdict]))
    if a.record and not a.quick:
        record_section("bench_meta_step", [
            "## MAML meta-step vs higher (CPU)",
            "",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch {torch.__version__}, "
            f"{a.threads} thread(s); {a.repeats} interleaved repeats, medians",
            f"- command: `python benchmarks/bench_meta_step.py --threads {a.threads} --record`",
            "- sinusoid regression, MLP 1→40→40→1, 10 support + 10 query points per task, 5 inner SGD "
            "steps (lr 0.01), second order, loss + backward to the initial weights",
            "",
            *lines,
            "",
            verdict,
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
