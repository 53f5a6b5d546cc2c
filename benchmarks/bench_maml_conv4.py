"""Profile one second-order MAML meta-iteration with the conv4 backbone on Omniglot-sized episodes.

5-way 1-shot 15-query episodes of 28×28 images, ``--tasks`` per meta-batch (MAML used 32;
16 here by default), one inner SGD step of 0.4 (MAML's Omniglot setting), second order:
one meta-iteration = adapt every episode, query loss at the adapted weights, backward to
the initial weights. Three implementations from the same weights, meta-gradients checked
against each other before timing:

* ``hyperfunc``: :class:`hyperfunc.fewshot.MAML` as it runs by default — all episodes in one
  batched call and one ``autograd.grad`` for every episode's inner gradient; for a conv
  target on a CPU the target runs episode after episode inside that call, its 2-D
  convolutions in the channels-last layout (the automatic choice of
  :meth:`hyperfunc.Target.batched`, ``vectorize=None``); ``loop`` and ``higher`` run the
  module as given (NCHW), so the meta-gradients differ by float32 rounding;
* ``hyperfunc vectorize=True``: the same with ``torch.func.vmap`` over the per-episode
  weights (grouped convolutions);
* ``loop``: :func:`hyperfunc.inner.adapt` episode by episode (a Python loop);
* ``higher``: the ``higher`` 0.2.1 package's ``innerloop_ctx`` episode by episode.

Then ``torch.profiler`` lists where the batched meta-iteration spends its time.

    python benchmarks/bench_maml_conv4.py             # print
    python benchmarks/bench_maml_conv4.py --record    # ... and write RESULTS.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _results import record_section

import hyperfunc as hf
from hyperfunc.fewshot import MAML, Episodes
from hyperfunc.inner import SGD, adapt

LR = 0.4
Grads = list[torch.Tensor]


def make(tasks: int, hidden: int) -> dict[str, Callable[[], Grads]]:
    torch.manual_seed(0)
    module = hf.targets.conv4(num_classes=5, hidden=hidden)
    target = hf.stateless(module)
    init = {k: v.detach().clone() for k, v in module.named_parameters()}
    maml = MAML(target, inner_steps=1, inner_lr=LR, params=init)
    maml_vmap = MAML(target, inner_steps=1, inner_lr=LR, params=init, vectorize=True)
    images = torch.rand(40, 16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    batch = Episodes(images, n_way=5, k_shot=1, q_query=15, batch_size=tasks, seed=2).batch(0)
    names = list(init)

    def meta_step(method: MAML) -> Grads:
        method.zero_grad(set_to_none=True)
        loss, _ = method.loss(batch)
        loss.backward()  # type: ignore[no-untyped-call]
        return [method.theta[k.replace(".", "/")].grad for k in names]  # type: ignore[misc]

    def loop() -> Grads:
        theta = {k: v.detach().requires_grad_() for k, v in init.items()}
        total = torch.zeros(())
        for b in range(tasks):
            w = adapt(target, theta, F.cross_entropy, batch.x_support[b], batch.y_support[b],
                      optimizer=SGD(lr=LR))
            total = total + F.cross_entropy(target(w, batch.x_query[b]), batch.y_query[b]) / tasks
        return list(torch.autograd.grad(total, [theta[k] for k in names]))

    fns = {"hyperfunc": lambda: meta_step(maml), "hyperfunc vectorize=True": lambda: meta_step(maml_vmap),
           "loop": loop}
    try:
        import higher
    except ImportError:
        return fns

    def theirs() -> Grads:
        module.zero_grad(set_to_none=True)
        opt = torch.optim.SGD(module.parameters(), lr=LR)
        for b in range(tasks):
            with higher.innerloop_ctx(module, opt, copy_initial_weights=False) as (fmodel, diffopt):
                diffopt.step(F.cross_entropy(fmodel(batch.x_support[b]), batch.y_support[b]))
                (F.cross_entropy(fmodel(batch.x_query[b]), batch.y_query[b]) / tasks).backward()
        return [p.grad for p in module.parameters()]  # type: ignore[misc]

    fns["higher"] = theirs
    return fns


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=16)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--record", action="store_true")
    p.add_argument("--quick", action="store_true", help="CI smoke run: 2 tasks, 8 channels, 1 repeat")
    a = p.parse_args()
    if a.quick:
        a.tasks, a.hidden, a.repeats = 2, 8, 1
    torch.set_num_threads(a.threads)
    fns = make(a.tasks, a.hidden)
    ref = fns["hyperfunc"]()
    diffs = {}
    for name, fn in fns.items():
        got = fn()
        diffs[name] = max(float((x - y).abs().max()) for x, y in zip(got, ref))
    if max(diffs.values()) > 1e-4:
        print(f"meta-gradients disagree: {diffs}")
        return 1
    times: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(a.repeats):  # interleaved, so drifting machine load hits every variant alike
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {n: statistics.median(v) for n, v in times.items()}
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fns["hyperfunc"]()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=45)
    lines = [
        "| implementation | s / meta-iteration (median) | vs hyperfunc | max meta-grad diff vs hyperfunc |",
        "|---|---:|---:|---:|",
    ]
    for name in fns:
        ratio = med[name] / med["hyperfunc"]
        lines.append(f"| {name} | {med[name]:.3f} | {ratio:.2f}× | {diffs[name]:.1e} |")
    if "higher" in med:
        lines.append("")
        lines.append(f"Default path / higher: **{med['hyperfunc'] / med['higher']:.2f}×** (goal ≤ 0.9×).")
    text = "\n".join(lines)
    print(text)
    print(table)
    if a.record and not a.quick:
        record_section("bench_maml_conv4", [
            "## Second-order MAML meta-iteration with conv4 (CPU profile)",
            "",
            f"- this 2-core CPU, torch {torch.__version__}, {a.threads} threads; 5-way 1-shot 15-query "
            f"28×28 episodes, {a.tasks} per meta-batch, conv4 with {a.hidden} channels, one inner SGD "
            f"step of 0.4, second order; median of {a.repeats} interleaved repeats",
            f"- command: `python benchmarks/bench_maml_conv4.py --tasks {a.tasks} --repeats {a.repeats} "
            "--record` "
            f"({time.strftime('%Y-%m-%d', time.gmtime())})",
            "",
            text,
            "",
            "Where the batched meta-iteration spends its time (torch.profiler, self CPU time):",
            "",
            "```",
            *table.strip("\n").splitlines(),
            "```",
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
