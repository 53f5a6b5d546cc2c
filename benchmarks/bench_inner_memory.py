"""Peak memory and time of a second-order MAML meta-iteration against the number of inner steps.

conv4 (64 channels, batch norm with each episode's statistics) on Omniglot 5-way 1-shot
episodes (15 queries per class; ``../shared/data/omniglot_28.npz``, evaluation split), SGD
inner steps of 0.1, for 1, 5, 20 and 50 inner steps, one episode per meta-iteration (a larger
meta-batch run episode by episode, as below, has the same peak; ``--tasks``):

* ``stored``: :class:`hyperfunc.fewshot.MAML` (``vectorize=False``); every inner step's graph
  is kept;
* ``checkpointed``: the same with ``checkpoint=True`` (each step recomputed in the backward pass);
* ``implicit``: iMAML (``implicit=1.0``, 5 conjugate-gradient steps): no inner graph at all
  (a different meta-gradient, by design);
* ``higher``: the ``higher`` 0.2.1 package.

Every variant runs the meta-batch episode by episode with a backward per episode (higher's
README MAML loop; with hyperfunc, ``method.loss`` on one-episode batches), so the peak is one
episode's graph; hyperfunc's batched call over all episodes at once is faster and holds all
their graphs together.

Each configuration runs in its own process, twice. For the memory, glibc returns every block of
64 KiB or more to the system when it is freed and uses one arena (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_ARENA_MAX``), so the resident memory follows the live tensors: the peak is the
process's peak resident memory during its first full meta-iteration minus its resident memory
just before it (one-time costs — kernels, imports — are paid on a tiny meta-iteration first).
The time is that of the second meta-iteration in a run with the default allocator.
The meta-gradients of ``stored``, ``checkpointed`` and ``higher`` are compared.

    python benchmarks/bench_inner_memory.py              # print
    python benchmarks/bench_inner_memory.py --record     # ... and write RESULTS.md
    python benchmarks/bench_inner_memory.py --quick      # CI smoke: tiny net, random images
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VARIANTS = ("stored", "checkpointed", "implicit", "higher")
LR = 0.1


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _episodes(quick: bool, tasks: int) -> tuple[torch.Tensor, ...]:
    import hyperfunc as hf
    from hyperfunc.fewshot import Episodes

    if quick:
        images = torch.rand(20, 20, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    else:
        with np.load(DATA / "omniglot_28.npz", allow_pickle=False) as d:
            images = torch.from_numpy(d["evaluation_images"][:200]).float()[:, :, None] / 255
    del hf
    b = Episodes(images, n_way=5, k_shot=1, q_query=15, batch_size=tasks, seed=2).batch(0)
    return b.x_support, b.y_support, b.x_query, b.y_query


def child(variant: str, steps: int, tasks: int, quick: bool, grads_out: str) -> None:
    """One configuration: warm up, measure one meta-iteration, print a JSON line, save the gradient."""
    import hyperfunc as hf
    from hyperfunc.fewshot import MAML

    torch.set_num_threads(2)
    torch.manual_seed(0)
    module = hf.targets.conv4(num_classes=5, hidden=8 if quick else 64)
    xs, ys, xq, yq = _episodes(quick, tasks)
    names = [n for n, _ in module.named_parameters()]

    Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

    if variant == "higher":
        import higher

        opt = torch.optim.SGD(module.parameters(), lr=LR)

        def meta_step(data: Data, n_steps: int) -> list[torch.Tensor]:
            xs, ys, xq, yq = data
            module.zero_grad(set_to_none=True)
            for e in range(len(xs)):
                with higher.innerloop_ctx(module, opt, copy_initial_weights=False) as (fmodel, diffopt):
                    for _ in range(n_steps):
                        diffopt.step(F.cross_entropy(fmodel(xs[e]), ys[e]))
                    (F.cross_entropy(fmodel(xq[e]), yq[e]) / len(xs)).backward()
            return [p.grad for p in module.parameters()]  # type: ignore[misc]
    else:
        from hyperfunc.fewshot import EpisodeBatch

        init = {k: v.detach().clone() for k, v in module.named_parameters()}
        kw = {"checkpoint": True} if variant == "checkpointed" else {}
        if variant == "implicit":
            kw = {"implicit": 1.0, "cg_steps": 5}

        def meta_step(data: Data, n_steps: int) -> list[torch.Tensor]:  # a backward per episode, as higher's
            xs, ys, xq, yq = data
            maml = MAML(
                hf.stateless(module), inner_steps=n_steps, inner_lr=LR, params=init, vectorize=False, **kw
            )
            for e in range(len(xs)):
                batch = EpisodeBatch(xs[e : e + 1], ys[e : e + 1], xq[e : e + 1], yq[e : e + 1], 5)
                loss, _ = maml.loss(batch)
                (loss / len(xs)).backward()  # type: ignore[no-untyped-call]
            return [maml.theta[k.replace(".", "/")].grad for k in names]  # type: ignore[misc]

    # one-time costs (kernels, double backward, module imports, vmap) outside the measurement: the same
    # meta-iteration on one episode of one image per class, one inner step
    meta_step((xs[:1], ys[:1], xq[:1, :5], yq[:1, :5]), 1)
    before = _rss_mib()  # model and data in place; glibc returns large blocks at once (see main)
    data = (xs, ys, xq, yq)
    grads = meta_step(data, steps)  # the first full iteration: the process's peak is this iteration's
    peak = _peak_mib() - before
    t0 = time.perf_counter()
    meta_step(data, steps)  # timed on the second iteration (warm allocator)
    seconds = time.perf_counter() - t0
    torch.save(torch.cat([g.detach().flatten() for g in grads]), grads_out)
    print(
        json.dumps(
            {
                "variant": variant,
                "steps": steps,
                "peak_mib": round(max(peak, 0.0), 1),
                "seconds": round(seconds, 3),
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--quick", action="store_true", help="CI smoke run: tiny net, random images, 2 steps"
    )
    p.add_argument("--record", action="store_true", help="write the table into RESULTS.md")
    p.add_argument("--tasks", type=int, default=1, help="episodes per meta-iteration (default 1)")
    p.add_argument("--steps", type=int, nargs="+", default=None, help="inner steps (default 1 5 20 50)")
    p.add_argument("--child", nargs=3, metavar=("VARIANT", "STEPS", "GRADS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.tasks, args.quick, args.child[2])
        return
    steps_list = args.steps or ([2] if args.quick else [1, 5, 20, 50])
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for steps in steps_list:
            grads: dict[str, torch.Tensor] = {}
            for variant in VARIANTS:
                out = Path(tmp) / f"{variant}-{steps}.pt"
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    variant,
                    str(steps),
                    str(out),
                    "--tasks",
                    str(args.tasks),
                ]
                cmd += ["--quick"] if args.quick else []
                # memory: glibc returns every block >= 64 KiB when freed, one malloc arena (so the resident
                # memory follows the live tensors); time: a second run with the default allocator
                lean = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_ARENA_MAX": "1"}
                runs = [subprocess.run(cmd, capture_output=True, text=True, env=e) for e in (lean, None)]
                for done in runs:
                    if done.returncode != 0:
                        sys.exit(f"{variant} with {steps} steps failed:\n{done.stderr[-2000:]}")
                row, timed = (json.loads(d.stdout.strip().splitlines()[-1]) for d in runs)
                row["seconds"] = timed["seconds"]
                grads[variant] = torch.load(out, weights_only=True)
                rows.append(row)
                peak, secs = row["peak_mib"], row["seconds"]
                print(f"steps {steps:3d}  {variant:13s} peak {peak:8.1f} MiB  {secs:7.2f} s", flush=True)
            ref = grads["stored"]
            for variant in ("checkpointed", "higher"):
                rel = float((grads[variant] - ref).abs().max() / ref.abs().max())
                print(
                    f"steps {steps:3d}  {variant} meta-gradient vs stored: max relative difference {rel:.1e}"
                )
                rows.append({"variant": variant, "steps": steps, "grad_rel_diff": rel})
    table = _table(rows, steps_list)
    print("\n".join(table))
    if args.record and not args.quick:
        from _results import record_section

        record_section("bench_inner_memory", table)


def _table(rows: list[dict[str, object]], steps_list: list[int]) -> list[str]:
    get = {
        (r["variant"], r["steps"], k): v for r in rows for k, v in r.items() if k not in ("variant", "steps")
    }
    lines = [
        "## Long inner loops: memory and time of a second-order MAML meta-iteration (CPU)",
        "",
        f"conv4 (64 channels, batch norm), Omniglot 5-way 1-shot 15-query, one episode, SGD 0.1; "
        f"{platform.machine()} CPU, torch {torch.__version__}, 2 threads; "
        "`python benchmarks/bench_inner_memory.py --record`. Peak = the "
        "process's extra resident memory during a meta-iteration (large blocks returned on free); time: "
        "the second meta-iteration, default allocator.",
        "",
        "| inner steps | stored | checkpointed | implicit | higher | checkpointed / higher "
        "| time stored / ckpt / implicit / higher (s) | ckpt, higher grads vs stored |",
        "|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for s in steps_list:
        mem = {v: float(get[(v, s, "peak_mib")]) for v in VARIANTS}  # type: ignore[arg-type]
        secs = " / ".join(f"{float(get[(v, s, 'seconds')]):.2f}" for v in VARIANTS)  # type: ignore[arg-type]
        ratio = mem["checkpointed"] / mem["higher"] if mem["higher"] > 0 else float("nan")
        diffs = ", ".join(
            f"{float(get[(v, s, 'grad_rel_diff')]):.0e}"  # type: ignore[arg-type]
            for v in ("checkpointed", "higher")
        )
        lines.append(
            f"| {s} | {mem['stored']:.0f} MiB | {mem['checkpointed']:.0f} MiB | {mem['implicit']:.0f} MiB | "
            f"{mem['higher']:.0f} MiB | {ratio:.2f} | {secs} | {diffs} |"
        )
    return lines


if __name__ == "__main__":
    main()
