"""Speed of one batched hypernetwork → target training step (forward + backward).

Setting (from the issue): an MLP target 2→64→64→3 whose |θ| = 4,547 weights are generated
by an MLP hypernetwork 8→100→100→|θ| from B conditioning vectors z ~ N(0, I); each weight set
is applied to its own N inputs; the loss is the MSE against random targets; one step is
``zero_grad`` + hypernet forward + target forward + loss + backward (no optimiser update).

Variants, all computing the same function (checked at start-up, see ``check_equal``):

* ``hyperfunc``            ``hf.compose(MLPHyperNet, target)`` (automatic batched-matmul fast path)
* ``hyperfunc vmap``       same hypernet, ``target.batched(params, x, fast=False)`` (vmap(functional_call))
* ``per-task loop``        same hypernet, a Python loop of ``target(params_i, x_i)`` over B
* ``hand-written bmm``     plain ``nn.Linear`` hypernet, output sliced by hand, ``torch.baddbmm`` + relu
* ``hand-written + affine``  the same plus hyperfunc's fixed output map ``θ = offset + scale·raw``
  (informational: the exact computation hyperfunc does, written by hand)
* ``hand-written, split``  ``hand-written bmm`` with one ``torch.split`` instead of a slice per
  tensor (informational: its backward is one concatenation instead of six zero-padded copies)
* ``hypnettorch 0.0.4``    ``hnets.HMLP`` + ``mnets.MLP(no_weights=True)``, loop over tasks

The hand-written hypernet folds hyperfunc's ``offset``/``scale`` buffers into its last layer
(``W' = scale·W``, ``b' = offset + scale·b``), so the same weights give the same outputs.

Every repeat runs each variant once, in a fresh random order, so machine noise hits them all
alike; the table reports the median and inter-quartile range per variant. On Linux CPUs the
result depends on the allocator: glibc returns large freed blocks to the OS, so every step of
the batched variants page-faults its activations back in (see README.md); set
``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` (or preload jemalloc/tcmalloc) to
measure without that, and ``--record`` files such a run in its own section.

Usage::

    python benchmarks/bench_batched_step.py             # full run, prints the table
    python benchmarks/bench_batched_step.py --record    # ... and writes benchmarks/RESULTS.md
    python benchmarks/bench_batched_step.py --quick     # smoke test (CI), a few seconds
    python benchmarks/bench_batched_step.py --profile   # torch.profiler: hyperfunc vs hand-written
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import os
import platform
import random
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from _results import record_section
from torch import Tensor, nn
from torch.nn import functional as F

import hyperfunc as hf

IN, OUT, HIDDEN = 2, 3, (64, 64)  # target MLP
Z_DIM, H_HIDDEN = 8, (100, 100)  # hypernetwork
TARGET_VS_BMM = 1.10  # hyperfunc must be at most this many times the hand-written bmm time
TARGET_VS_HYPNET = 2.5  # hyperfunc must be at least this many times faster than hypnettorch
TARGET_CONFIG = (32, 256)  # (B, N) at which the targets are judged
RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "bench_batched_step"

# --------------------------------------------------------------------------- models
class HandHyper(nn.Module):
    """Hypernet 8→100→100→|θ| with a by-hand batched MLP target (``baddbmm`` + relu)."""

    def __init__(self, sizes: list[int], z_dim: int, hidden: tuple[int, ...], p: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip([z_dim, *hidden[:-1]], hidden):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(hidden[-1], p)
        self.sizes = sizes
        self.affine: tuple[Tensor, Tensor] | None = None  # (offset, scale) if not folded
        self.split = False  # one torch.split instead of a slice per tensor

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        flat = self.head(self.trunk(z))  # [B, |θ|]
        if self.affine is not None:
            flat = self.affine[0] + self.affine[1] * flat
        b, off, h = flat.shape[0], 0, x
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        if self.split:
            parts = flat.split([k for i, o in pairs for k in (o * i, o)], dim=1)
        for i, (fan_in, fan_out) in enumerate(pairs):
            if self.split:
                w, bias = parts[2 * i].view(b, fan_out, fan_in), parts[2 * i + 1]
            else:
                w = flat[:, off : off + fan_out * fan_in].view(b, fan_out, fan_in)
                off += fan_out * fan_in
                bias = flat[:, off : off + fan_out]
                off += fan_out
            h = torch.baddbmm(bias.unsqueeze(1), h, w.transpose(1, 2))
            if i < len(pairs) - 1:
                h = torch.relu(h)
        return h


@dataclass
class Setup:
    """All models and data for one (B, N) configuration; every hypernet holds the same weights."""

    target: hf.Target
    hnet: hf.hypernets.MLPHyperNet
    f: Callable[..., Tensor]
    hand: HandHyper
    hand_affine: HandHyper
    hand_split: HandHyper
    z: Tensor
    x: Tensor
    y: Tensor
    hypnettorch: tuple[nn.Module, nn.Module] | None  # (mnet, hnet), None if not installed


def build(b: int, n: int, device: torch.device, seed: int = 0) -> Setup:
    torch.manual_seed(seed)
    target = hf.stateless(hf.targets.mlp(IN, OUT, hidden=HIDDEN))
    assert target.has_fast_path
    hnet = hf.hypernets.MLPHyperNet(target, Z_DIM, hidden=H_HIDDEN).to(device)
    p = target.spec.size
    sizes = [IN, *HIDDEN, OUT]

    hand, hand_affine, hand_split = (HandHyper(sizes, Z_DIM, H_HIDDEN, p).to(device) for _ in range(3))
    with torch.no_grad():
        for mod in (hand, hand_affine):
            for dst, src in zip(mod.trunk.parameters(), hnet.trunk.parameters(), strict=True):
                dst.copy_(src)
        # fold θ = offset + scale·(W h + b) into the head: W' = scale·W, b' = offset + scale·b
        hand.head.weight.copy_(hnet.scale[:, None] * hnet.head.weight)
        hand.head.bias.copy_(hnet.offset + hnet.scale * hnet.head.bias)
        hand_affine.head.weight.copy_(hnet.head.weight)
        hand_affine.head.bias.copy_(hnet.head.bias)
    hand_affine.affine = (hnet.offset, hnet.scale)
    hand_split.load_state_dict(hand.state_dict())
    hand_split.split = True

    setup = Setup(
        target=target, hnet=hnet, f=hf.compose(hnet, target), hand=hand, hand_affine=hand_affine,
        hand_split=hand_split,
        z=torch.randn(b, Z_DIM, device=device), x=torch.randn(b, n, IN, device=device),
        y=torch.randn(b, n, OUT, device=device), hypnettorch=None,
    )
    try:
        from hypnettorch.hnets import HMLP
        from hypnettorch.mnets import MLP
    except ImportError:  # the bench extra is not installed (e.g. the CI smoke run)
        return setup
    mnet = MLP(n_in=IN, n_out=OUT, hidden_layers=list(HIDDEN), no_weights=True, verbose=False).to(device)
    hmlp = HMLP(
        mnet.param_shapes, uncond_in_size=Z_DIM, cond_in_size=0, layers=list(H_HIDDEN),
        num_cond_embs=0, verbose=False,
    ).to(device)
    with torch.no_grad():  # same (folded) weights as the hand-written hypernet
        for dst, src in zip(hmlp.internal_params, hand.parameters(), strict=True):
            dst.copy_(src)
    setup.hypnettorch = (mnet, hmlp)
    return setup


def steps(s: Setup) -> dict[str, tuple[nn.Module, Callable[[], Tensor]]]:
    """name -> (module whose grads are reset, forward returning the [B, N, OUT] prediction)."""
    target, hnet, f, z, x = s.target, s.hnet, s.f, s.z, s.x

    def vmap_path() -> Tensor:
        out: Tensor = target.batched(hnet(z), x, fast=False)
        return out

    def loop() -> Tensor:
        params = hnet(z)
        return torch.stack([target({k: v[i] for k, v in params.items()}, x[i]) for i in range(len(z))])

    out: dict[str, tuple[nn.Module, Callable[[], Tensor]]] = {
        "hyperfunc": (hnet, lambda: f(z, x)),
        "hyperfunc vmap": (hnet, vmap_path),
        "per-task loop": (hnet, loop),
        "hand-written bmm": (s.hand, lambda: s.hand(z, x)),
        "hand-written + affine": (s.hand_affine, lambda: s.hand_affine(z, x)),
        "hand-written, split": (s.hand_split, lambda: s.hand_split(z, x)),
    }
    if s.hypnettorch is not None:
        mnet, hmlp = s.hypnettorch

        def hypnet() -> Tensor:
            ws = hmlp.forward(uncond_input=z)  # a list (one per task) of weight lists
            return torch.stack([mnet.forward(x[i], weights=ws[i]) for i in range(len(ws))])

        out["hypnettorch 0.0.4"] = (hmlp, hypnet)
    return out


def check_equal(s: Setup, tol: float = 1e-5) -> list[str]:
    """Every variant gives hyperfunc's prediction (within ``tol``) from the same weights."""
    variants = steps(s)
    with torch.no_grad():
        ref = variants["hyperfunc"][1]()
        lines = []
        for name, (_, fwd) in variants.items():
            err = float((fwd() - ref).abs().max())
            ok = err <= tol
            lines.append(f"  {name:<22} max |Δ| vs hyperfunc = {err:.2e} {'ok' if ok else 'MISMATCH'}")
            if not ok:
                raise SystemExit("correctness check failed:\n" + "\n".join(lines))
    return lines


# --------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_all(
    variants: dict[str, tuple[nn.Module, Callable[[], Tensor]]],
    y: Tensor,
    device: torch.device,
    warmup: int,
    repeats: int,
) -> dict[str, list[float]]:
    """Seconds per step for each variant; every repeat runs each variant once, in random order."""
    names = list(variants)

    def step(name: str) -> float:
        module, fwd = variants[name]
        sync(device)
        t0 = time.perf_counter()
        module.zero_grad(set_to_none=True)
        loss = F.mse_loss(fwd(), y)
        loss.backward()
        sync(device)
        return time.perf_counter() - t0

    for _ in range(warmup):
        for name in names:
            step(name)
    times: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(0)
    for _ in range(repeats):
        gc.collect()
        # a fresh order every repeat: no variant always follows the same one (the allocator and
        # cache state a variant leaves behind would otherwise bias its successor every time)
        for name in order.sample(names, len(names)):
            times[name].append(step(name))
    return times


def quartiles(ts: list[float]) -> tuple[float, float, float]:
    if len(ts) < 2:
        return ts[0], ts[0], ts[0]
    q1, q2, q3 = statistics.quantiles(ts, n=4, method="inclusive")
    return q1, q2, q3


# --------------------------------------------------------------------------- report
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        if found:
            cpu = found.group(1).strip()
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores"


def allocator_env() -> dict[str, str]:
    """Environment variables that change the CPU allocator (they matter a lot here, see README)."""
    names = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES",
             "LD_PRELOAD", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return {k: os.environ[k] for k in names if k in os.environ}


def run_config(
    b: int, n: int, device: torch.device, warmup: int, repeats: int
) -> tuple[list[str], dict[str, float], dict[str, list[float]]]:
    setup = build(b, n, device)
    check = check_equal(setup)
    times = time_all(steps(setup), setup.y, device, warmup, repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    return check, med, times


def table(b: int, n: int, med: dict[str, float], times: dict[str, list[float]]) -> list[str]:
    bmm, hfm = med["hand-written bmm"], med["hyperfunc"]
    rows = [
        f"B={b}, N={n} ({len(next(iter(times.values())))} timed repeats per variant)",
        "",
        "| variant | median ms | IQR ms | time / hand-written bmm | time / hyperfunc |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, ts in times.items():
        q1, q2, q3 = quartiles(ts)
        rows.append(
            f"| {name} | {q2 * 1e3:.2f} | {q1 * 1e3:.2f}-{q3 * 1e3:.2f} | {med[name] / bmm:.2f} "
            f"| {med[name] / hfm:.2f} |"
        )
    return rows


def verdict(med: dict[str, float], times: dict[str, list[float]]) -> tuple[list[str], bool]:
    hfm, bmm = med["hyperfunc"], med["hand-written bmm"]
    paired_bmm = statistics.median(
        a / c for a, c in zip(times["hyperfunc"], times["hand-written bmm"])
    )
    r1 = hfm / bmm
    ok1 = r1 <= TARGET_VS_BMM
    lines = [
        f"- hyperfunc / hand-written bmm = {r1:.3f} (median of per-repeat ratios {paired_bmm:.3f}); "
        f"target ≤ {TARGET_VS_BMM:.2f}: **{'PASS' if ok1 else 'FAIL'}**"
    ]
    ok = ok1
    if "hypnettorch 0.0.4" in med:
        paired_h = statistics.median(
            a / c for a, c in zip(times["hypnettorch 0.0.4"], times["hyperfunc"])
        )
        r2 = med["hypnettorch 0.0.4"] / hfm
        ok2 = r2 >= TARGET_VS_HYPNET
        ok = ok and ok2
        lines.append(
            f"- hypnettorch / hyperfunc = {r2:.2f}x (median of per-repeat ratios {paired_h:.2f}x); "
            f"target ≥ {TARGET_VS_HYPNET:.1f}x: **{'PASS' if ok2 else 'FAIL'}**"
        )
    else:
        lines.append("- hypnettorch / hyperfunc: not measured (hypnettorch is not installed): **SKIP**")
    return lines, ok


def record(key: str, body: list[str]) -> None:
    record_section(f"{SECTION}:{key}", body)


def profile(device: torch.device, b: int, n: int) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    setup = build(b, n, device)
    variants, y = steps(setup), setup.y
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    for name in ("hyperfunc", "hand-written bmm"):
        module, fwd = variants[name]
        for _ in range(5):
            module.zero_grad(set_to_none=True)
            F.mse_loss(fwd(), y).backward()
        with tprofile(activities=acts) as prof:
            for _ in range(20):
                module.zero_grad(set_to_none=True)
                F.mse_loss(fwd(), y).backward()
            sync(device)
        print(f"\n=== {name}, B={b}, N={n}, 20 steps ===")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--quick", action="store_true", help="smoke test: few repeats, small config only")
    ap.add_argument("--record", action="store_true", help=f"write the results to {RESULTS.name}")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats at the small config")
    ap.add_argument("--profile", action="store_true", help="profile hyperfunc vs hand-written and exit")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a speed target is missed")
    args = ap.parse_args(argv)
    if args.quick and args.record:
        ap.error("--record needs a full run (quick timings are too noisy to keep)")

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda, but CUDA is not available")
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False  # keep the 1e-5 check meaningful on GPUs
    torch.backends.cudnn.allow_tf32 = False

    if args.profile:
        profile(device, *TARGET_CONFIG)
        return 0

    small = args.repeats or (5 if args.quick else 50)
    configs = [(*TARGET_CONFIG, 2 if args.quick else 10, small)]
    if not args.quick:
        configs.append((256, 1024, 3, max(10, small // 4)))

    env = (
        f"{machine()}; torch {torch.__version__}, {torch.get_num_threads()} intra-op threads"
        + (f"; GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "")
    )
    alloc = allocator_env()
    malloc_tuned = any(k.startswith(("MALLOC_", "GLIBC_", "LD_PRELOAD")) for k in alloc)
    if alloc:
        env += "; environment " + " ".join(f"{k}={v}" for k, v in alloc.items())
    print(f"device {device}; {env}")
    body: list[str] = []
    ok_all = True
    for b, n, warmup, repeats in configs:
        check, med, times = run_config(b, n, device, warmup, repeats)
        print(f"\ncorrectness (B={b}, N={n}, same weights, tolerance 1e-5):")
        print("\n".join(check))
        rows = table(b, n, med, times)
        print("\n" + "\n".join(rows))
        body += ["", *rows]
        if (b, n) == TARGET_CONFIG:
            lines, ok = verdict(med, times)
            ok_all = ok
            print("\n" + "\n".join(lines))
            body += ["", f"Targets (judged at B={b}, N={n}):", "", *lines]

    if args.record:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        cmd = " ".join([*(f"{k}={v}" for k, v in alloc.items()), shlex.join(["python", *sys.argv])])
        label = device.type + (", tuned allocator" if malloc_tuned else "")
        header = [
            f"## Batched hypernetwork → target step ({label})",
            "",
            f"- date: {stamp}",
            f"- machine: {env}",
            f"- command: `{cmd}`",
            "- step: zero_grad + hypernet 8→100→100→4547 forward for B vectors + MLP 2→64→64→3 on "
            "N inputs per weight set + MSE + backward (no optimiser update); median and IQR over "
            "repeats after warm-up, each repeat running every variant once in a random order",
        ]
        record(device.type + ("-tuned-malloc" if malloc_tuned else ""), header + body)
    if args.strict and not ok_all:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
