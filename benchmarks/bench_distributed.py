"""Meta-training on several processes: time per step, compute against synchronisation, throughput.

Second-order MAML (conv4, 64 channels, batch norm with each episode's statistics, one inner SGD
step of 0.4) and HyperMAML (the same conv4 as its backbone, ``num_classes=0``, with the default
hypernetwork, as ``hyperfunc run --method hypermaml --target conv4`` builds it) meta-train on
Omniglot 5-way 1-shot 15-query episodes (``../shared/data/omniglot_28.npz``, background split),
8 episodes per meta-batch, Adam 1e-3, the way :func:`hyperfunc.run.train` steps on several
processes: every rank draws the same meta-batch and keeps its contiguous share
(:func:`hyperfunc.distributed.shard`), backward on ``loss · weight``, one small
:func:`~hyperfunc.distributed.reduce_sum` of the loss and logs,
:func:`~hyperfunc.distributed.all_reduce_gradients`, Adam; with more than one process a tiny
``reduce_sum`` of the stop flags opens every step.

The processes are started the way torchrun starts them (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``): each is this script in a hidden ``--child``
mode, builds the method from the same seed, takes 2 warm-up steps and times ``--steps`` steps.
Per step, with ``time.perf_counter``:

* compute: drawing the batch, the loss and the backward pass;
* sync: the reductions and the gradient all-reduce. A collective returns when every rank has
  reached it, so this includes waiting for the slower rank (a real cost of the step, not
  only the transfer);
* step: all of it, Adam included; throughput = episodes per meta-batch / mean step time.

On the CPU (gloo) it runs 1 process × 2 threads, 1 process × 1 thread and 2 processes ×
1 thread. On a 2-core machine the last uses the same two cores as the first: it compares two
ways of using them (processes against intra-op threads), not more hardware. Scaling
efficiency = throughput(2 processes × 1 thread) / (2 × throughput(1 process × 1 thread)).
With ``--device cuda`` (NCCL) it runs 1 process and N = ``torch.cuda.device_count()``
processes, one GPU each; efficiency = throughput(N) / (N × throughput(1)).

Checks that the figures are of a correct run (rank 0 saves its model and its first meta-gradient):

* the first step's meta-gradient, summed over the N processes, against the one-process one
  (max difference relative to its largest element; MAML fails above 1e-5 on the CPU);
* the model after the timed steps against that of one process that takes every step on the
  same N shards in turn, summing their weighted gradients: the sum the processes compute,
  so it must agree to rounding (fails above 1e-6 on the CPU);
* the model against the one-process model (max abs difference, printed). This one is not a
  check of the reduction: Adam's first steps are about ±lr for every element whatever its
  gradient's size, so elements whose gradient is near 0 (the conv biases that batch norm
  cancels have a true gradient of 0) take steps of opposite signs in two runs that sum in
  different orders, and the weights drift apart by up to a few lr.

MAML's batch norm takes each episode's statistics, so sharding the meta-batch changes only the
order of float sums. HyperMAML's backbone embeds the whole meta-batch in one call, so in
training mode its batch norm takes statistics over each process's share of the episodes: on
N processes it computes another meta-gradient than one process (as DDP without
SyncBatchNorm would), which the first check shows and the second accounts for.

    python benchmarks/bench_distributed.py                 # print
    python benchmarks/bench_distributed.py --record        # ... and write RESULTS.md
    python benchmarks/bench_distributed.py --quick         # CI smoke: tiny conv4, random images
    python benchmarks/bench_distributed.py --device cuda   # 1 and N GPUs (NCCL)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EPISODES = 8  # per meta-batch
INNER_LR = 0.4
LR = 1e-3
WARMUP = 2
SAME_GRAD = 1e-5  # the first meta-gradient, relative: float32 sums in another order
SAME_MODEL = 1e-6  # the model against one process summing the same shards: the same sums
Row = dict[str, Any]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _episodes(quick: bool) -> Any:
    from hyperfunc.fewshot import Episodes

    if quick:
        images = torch.rand(20, 20, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    else:
        with np.load(DATA / "omniglot_28.npz", allow_pickle=False) as d:
            images = torch.from_numpy(d["background_images"])[:, :, None]  # uint8, ink = 255
    return Episodes(images, n_way=5, k_shot=1, q_query=15, batch_size=EPISODES, seed=0, dtype=torch.float32)


def _method(name: str, hidden: int) -> torch.nn.Module:
    import hyperfunc as hf
    from hyperfunc.fewshot import MAML, HyperMAML, feature_size

    if name == "maml":
        return MAML(
            hf.stateless(hf.targets.conv4(num_classes=5, hidden=hidden)), inner_steps=1, inner_lr=INNER_LR
        )
    target = hf.stateless(hf.targets.conv4(num_classes=0, hidden=hidden))
    return HyperMAML(target, n_way=5, k_shot=1, feature_dim=feature_size(target, (1, 28, 28)))


def child(name: str, threads: int, out: str, a: argparse.Namespace) -> None:
    """One process of a run: join the others, warm up, time ``a.steps`` steps; rank 0 reports."""
    import hyperfunc.distributed as hd
    from hyperfunc.run import move_method

    world = hd.init(a.device)
    torch.set_num_threads(threads)
    device = world.device(a.device)
    cuda = device.type == "cuda"

    def wait() -> None:  # GPU work is asynchronous: time it when it is done
        if cuda:
            torch.cuda.synchronize(device)

    torch.manual_seed(0)  # the same initial weights on every rank
    method = _method(name, 8 if a.quick else 64)
    move_method(method, device)
    method.train()
    start = {k: v.detach().clone() for k, v in method.state_dict().items()}
    params = [p for p in method.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR)
    episodes = _episodes(a.quick)
    loss_of: Callable[[Any], tuple[torch.Tensor, dict[str, float]]] = method.loss  # type: ignore[assignment]
    compute: list[float] = []
    sync: list[float] = []
    step: list[float] = []
    losses: list[float] = []
    first: torch.Tensor | None = None
    for i in range(WARMUP + a.steps):
        wait()
        t0 = time.perf_counter()
        if world.size > 1:  # the loop's stop flags (time limit, Ctrl-C)
            hd.reduce_sum(torch.zeros(2))
        t1 = time.perf_counter()
        if a.shards > 1:  # the reference of the check: one process, the N processes' shards in turn
            opt.zero_grad(set_to_none=True)
            for r in range(a.shards):
                part, weight = hd.shard(episodes.batch(i), hd.World(rank=r, size=a.shards, backend="gloo"))
                loss, logs = loss_of(part.to(device))
                (loss * weight).backward()  # type: ignore[no-untyped-call]
        else:
            batch, weight = hd.shard(episodes.batch(i))
            loss, logs = loss_of(batch.to(device))
            opt.zero_grad(set_to_none=True)
            (loss * weight if world.size > 1 else loss).backward()  # type: ignore[no-untyped-call]
        wait()
        t2 = time.perf_counter()
        numbers = [float(v) for v in logs.values() if isinstance(v, (int, float))]
        values = torch.tensor([float(loss.detach()), *numbers], dtype=torch.float64)
        whole = hd.reduce_sum(values * weight)
        hd.all_reduce_gradients(params)
        wait()
        t3 = time.perf_counter()
        if first is None:
            first = torch.cat(
                [torch.zeros(p.numel()) if p.grad is None else p.grad.cpu().flatten() for p in params]
            )
        opt.step()
        wait()
        t4 = time.perf_counter()
        if i >= WARMUP:
            compute.append(t2 - t1)
            sync.append((t1 - t0) + (t3 - t2))
            step.append(t4 - t0)
            losses.append(float(whole[0]))
    per_rank = hd.gather(torch.tensor([sum(compute) / len(compute)], dtype=torch.float64)).tolist()
    if world.main:
        final = {k: v.detach().cpu() for k, v in method.state_dict().items()}
        torch.save({"start": {k: v.cpu() for k, v in start.items()}, "final": final, "grad": first}, out)
        mean_step = sum(step) / len(step)
        row = {
            "method": name,
            "processes": world.size,
            "threads": threads,
            "backend": world.backend or "-",
            "device": str(device),
            "steps": a.steps,
            "step_s": mean_step,
            "compute_s": sum(compute) / len(compute),
            "sync_s": sum(sync) / len(sync),
            "compute_per_rank_s": per_rank,
            "episodes_per_s": EPISODES / mean_step,
            "last_loss": losses[-1],
        }
        print(json.dumps(row), flush=True)
    hd.shutdown()


def launch(name: str, processes: int, threads: int, out: Path, a: argparse.Namespace, shards: int = 1) -> Row:
    """Start ``processes`` children the way torchrun does, wait for all; rank 0's JSON line."""
    base = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    base["OMP_NUM_THREADS"] = str(threads)
    port = str(_port())
    cmd = [sys.executable, __file__, "--child", name, str(threads), str(out), "--steps", str(a.steps)]
    cmd += ["--device", a.device, "--shards", str(shards)] + (["--quick"] if a.quick else [])
    procs = []
    for rank in range(processes):
        env = dict(base)
        if processes > 1:
            env.update(
                RANK=str(rank),
                LOCAL_RANK=str(rank),
                WORLD_SIZE=str(processes),
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=port,
            )
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    done = [p.communicate(timeout=600) for p in procs]
    for rank, (p, (_, err)) in enumerate(zip(procs, done)):
        if p.returncode != 0:
            sys.exit(f"{name} on {processes} process(es), rank {rank} failed:\n{err[-3000:]}")
    row: Row = json.loads(done[0][0].strip().splitlines()[-1])
    return row


Check = tuple[float, float, float, float]  # gradient vs 1 process, model vs shards, vs 1 process, moved


def _compare(many: Path, shards: Path, one: Path) -> Check:
    """The N-process run against one process on the same shards and against one process."""
    m, s, o = (torch.load(f, weights_only=True) for f in (many, shards, one))
    grad = float((m["grad"] - o["grad"]).abs().max() / o["grad"].abs().max())
    keys = [k for k, v in o["final"].items() if v.is_floating_point()]  # not counters such as steps_done

    def apart(x: dict[str, torch.Tensor], y: dict[str, torch.Tensor]) -> float:
        return max(float((x[k] - y[k]).abs().max()) for k in keys)

    return grad, apart(m["final"], s["final"]), apart(m["final"], o["final"]), apart(o["final"], o["start"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10, help="timed meta-training steps (after 2 warm-up steps)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cpu (gloo) or cuda (NCCL)")
    p.add_argument("--methods", nargs="+", default=["maml", "hypermaml"], choices=("maml", "hypermaml"))
    p.add_argument("--record", action="store_true", help="write the table into RESULTS.md")
    p.add_argument("--quick", action="store_true", help="CI smoke run: conv4 of 8 channels, random images")
    p.add_argument("--child", nargs=3, metavar=("METHOD", "THREADS", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--shards", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), a.child[2], a)
        return 0
    if a.quick:
        a.steps, a.methods = 2, ["maml"]
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda needs a GPU (torch.cuda.is_available() is False)")
        n = torch.cuda.device_count()
        ref, many = (1, 1), (n, 1)  # one GPU per process
        configs = [ref, many] if n > 1 else [ref]
    else:
        n = 2
        ref, many = (1, 1), (2, 1)  # processes × threads; the same threads per process
        configs = [ref, many] if a.quick else [(1, 2), ref, many]
    rows: list[Row] = []
    checks: dict[str, Check] = {}
    with tempfile.TemporaryDirectory() as tmp:
        models: dict[tuple[str, int, int], Path] = {}
        for name in a.methods:
            for procs, threads in configs:
                out = Path(tmp) / f"{name}-{procs}x{threads}.pt"
                row = launch(name, procs, threads, out, a)
                models[(name, procs, threads)] = out
                rows.append(row)
                print(
                    f"{name:9s} {procs} process(es) × {threads} thread(s): step {row['step_s']:.3f} s = "
                    f"compute {row['compute_s']:.3f} + sync {row['sync_s']:.3f} (+ Adam); "
                    f"{row['episodes_per_s']:.1f} episodes/s",
                    flush=True,
                )
            if many != ref:
                shards = Path(tmp) / f"{name}-shards.pt"
                launch(name, ref[0], ref[1], shards, a, shards=many[0])
                checks[name] = _compare(
                    models[(name, many[0], many[1])], shards, models[(name, ref[0], ref[1])]
                )
    table = _table(rows, checks, a, n, ref, many)
    print("\n".join(table))
    failed = a.device == "cpu" and any(  # on GPUs, TF32 and cuDNN's algorithms round differently
        c[1] > SAME_MODEL or (name == "maml" and c[0] > SAME_GRAD) for name, c in checks.items()
    )
    if failed:
        print(f"the {many[0]}-process run does not compute what one process computes (see above)")
        return 1
    if a.record and not a.quick:
        from _results import record_section

        record_section("bench_distributed" + (":cuda" if a.device == "cuda" else ""), table)
    return 0


def _efficiency(rows: list[Row], name: str, ref: tuple[int, int], many: tuple[int, int]) -> float | None:
    get = {(r["method"], r["processes"], r["threads"]): r for r in rows}
    if (name, ref[0], ref[1]) not in get or (name, many[0], many[1]) not in get or many == ref:
        return None
    return float(
        get[(name, many[0], many[1])]["episodes_per_s"]
        / (many[0] * get[(name, ref[0], ref[1])]["episodes_per_s"])
    )


def _table(
    rows: list[Row],
    checks: dict[str, Check],
    a: argparse.Namespace,
    n: int,
    ref: tuple[int, int],
    many: tuple[int, int],
) -> list[str]:
    gpu = a.device == "cuda"
    if gpu:
        machine = f"{n} × {torch.cuda.get_device_name(0)}, NCCL"
    else:
        machine = f"{_cpu_model()}, {os.cpu_count()} cores, gloo"
    data = "random images," if a.quick else "Omniglot (background split),"
    hidden = 8 if a.quick else 64
    cmd = "python benchmarks/bench_distributed.py" + (" --device cuda" if gpu else "")
    if a.quick:
        cmd += " --quick"
    else:
        cmd += f" --steps {a.steps}" if a.steps != 10 else ""
        cmd += f" --methods {' '.join(a.methods)}" if a.methods != ["maml", "hypermaml"] else ""
        cmd += " --record"
    timed = " and ".join({"maml": "MAML", "hypermaml": "HyperMAML"}[m] for m in a.methods)
    lines = [
        f"## Meta-training on several processes ({'GPU' if gpu else 'CPU'})",
        "",
        f"- {machine}; torch {torch.__version__}; {time.strftime('%Y-%m-%d', time.gmtime())}; "
        f"command: `{cmd}`",
        f"- {data} 5-way 1-shot 15-query, {EPISODES} episodes per meta-batch, Adam {LR:g}; "
        f"timed: {timed}. MAML: conv4 "
        f"({hidden} channels, batch norm), 1 inner SGD step of {INNER_LR}, second order; HyperMAML: the "
        "same conv4 as its backbone (`num_classes=0`), default hypernetwork (256, 256). Processes started "
        "as torchrun starts them; each step as `hyperfunc.run.train` takes it on several processes "
        "(stop flags, shard, weighted loss, backward, `reduce_sum`, `all_reduce_gradients`, Adam); "
        f"{WARMUP} warm-up steps, then the mean of {a.steps} timed steps on rank 0.",
        "- compute = batch + loss + backward; sync = the reductions and the gradient all-reduce, "
        "including the wait for the slower rank; step = all of it, Adam included.",
        "",
        "| method | processes × threads | step (s) | compute (s) | sync (s) | sync share "
        "| compute per rank (s) | episodes/s |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        ranks = " / ".join(f"{c:.3f}" for c in r["compute_per_rank_s"])
        lines.append(
            f"| {r['method']} | {r['processes']} × {r['threads']} | {r['step_s']:.3f} | "
            f"{r['compute_s']:.3f} | {r['sync_s']:.4f} | {100 * r['sync_s'] / r['step_s']:.1f} % | {ranks} | "
            f"{r['episodes_per_s']:.1f} |"
        )
    lines.append("")
    for name in a.methods:
        eff = _efficiency(rows, name, ref, many)
        if eff is not None:
            lines.append(
                f"- {name}: scaling efficiency = throughput({many[0]} × {many[1]}) / ({many[0]} × "
                f"throughput({ref[0]} × {ref[1]})) = **{eff:.2f}**"
            )
    get = {(r["method"], r["processes"], r["threads"]): r for r in rows}
    if not gpu:
        for name in a.methods:
            if (name, 1, 2) in get and (name, 2, 1) in get:
                ratio = get[(name, 2, 1)]["episodes_per_s"] / get[(name, 1, 2)]["episodes_per_s"]
                lines.append(
                    f"- {name}: 2 processes × 1 thread / 1 process × 2 threads (the same two cores): "
                    f"{ratio:.2f}× the throughput"
                )
    for name, (grad, same, apart, moved) in checks.items():
        lines.append(
            f"- {name}, {many[0]} processes against one: first meta-gradient {grad:.1e} apart (relative); "
            f"model after {a.steps + WARMUP} steps {same:.1e} from one process summing the same "
            f"{many[0]} shards, {apart:.1e} from one process (max abs; training moved the weights by up "
            f"to {moved:.1e})"
        )
    lines += [
        "",
        "Sync is timed around the collectives, so it includes the wait for the slower rank (its "
        "compute took longer: a real cost of the step, not the transfer alone).",
    ]
    if checks:
        lines.append(
            "One process summing the same shards computes the very sums the processes compute; the "
            "plain one-process model drifts further because Adam's first steps are about ±lr for every "
            "element whatever its gradient's size: elements whose gradient is near 0 (the conv biases "
            "that batch norm cancels have a true gradient of 0) step in opposite directions in two runs "
            "that sum in different orders."
        )
    if "hypermaml" in checks:
        lines.append(
            "HyperMAML's backbone embeds the whole meta-batch in one call and its batch norm takes training "
            "statistics over the episodes a process holds: on several processes each normalises over its "
            "share (as DDP without SyncBatchNorm would), so its meta-gradient is not one process's. "
            "MAML's batch norm takes each episode's own statistics: sharding it changes only the order "
            "of float sums."
        )
    if not gpu:
        lines += [
            "",
            f"On this {os.cpu_count()}-core machine 2 processes × 1 thread use the same cores as 1 process × "
            "2 threads: the rows compare two ways of using them (processes against intra-op threads), "
            "not more hardware, and the efficiency is that of processes sharing a machine. The GPU goal "
            "(≥ 0.9 × linear scaling at 2 processes for MAML and HyperMAML) could not be measured: no "
            "GPU was lent to this session (`python benchmarks/bench_distributed.py --device cuda "
            "--record` measures it).",
        ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
