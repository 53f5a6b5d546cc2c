"""Continuous representations: images as functions (COIN, image → function hypernetwork, super-resolution).

Parts (run one at a time: each uses both CPU cores):

* ``coin``: per-image fitting of 200 CIFAR-10 test images (the first 20 of each class)
  with a SIREN 2→18→18→3 (453 weights, w0 = 30, Adam 2e-4, full batch), all 200 in one
  batched call (:func:`hyperfunc.fields.fit`); mean PSNR after 1k/2k/5k/10k steps, and
  the time per step against a per-image loop (200 modules, 200 Adams) in the same run.
* ``render``: pixels/s of rendering 200 SIRENs at 32², 128² and 256² with
  :func:`hyperfunc.fields.render` (fused tiles; and with an explicit chunk) against a loop
  of one-function renders and a plain per-image loop of ``nn.Module`` SIRENs, in one run.
* ``hypernet``: :class:`hyperfunc.fields.ImageHyperNet` trained on a dataset for a time
  budget, test PSNR/SSIM with 0 and 3 refinement steps (Adam; the rate picked on 200
  held-out training images); ``--dataset cifar10`` (train 5k, test 2k) or ``mnist``
  (train 60k, test: the first 2k). ``--method meta-init`` trains the
  :class:`hyperfunc.fields.MetaInit` baseline instead (3 SGD steps from a learned init);
  ``--method functa`` a :class:`hyperfunc.fields.Functa` (``--latent``; also for ``superres``
  and ``inpaint``, where the latent is fitted to the known or low-resolution pixels);
  ``--method guided-hypernet`` a :class:`hyperfunc.fields.GuidedHyperNet` (for ``superres``
  and ``inpaint``: functions that correct bicubic upsampling or the normalized-convolution fill).
* ``superres``: ImageHyperNet trained on Omniglot 28×28 (background split), functions
  generated from evaluation-split 28×28 images rendered at 105×105 and compared with
  the real 105×105 images, against bicubic upsampling and bicubic sharpened by a tone curve
  fitted on 200 training pairs.
* ``inpaint``: ImageHyperNet trained on CIFAR-10 for ``--minutes``; 500 test images with
  half their pixels missing at random or a centre 12×12 square missing, filled by the
  generated functions (0, 3, 30 refinement steps on the known pixels), by a SIREN fitted
  from scratch on the known pixels, and by normalized convolution; PSNR on the missing pixels.
  With ``--mask-rate R`` the generator is trained with a share R of its images shown with
  random holes (``FieldsConfig(mask_rate=R)``).

Every part appends a JSON line to ``benchmarks/fields_runs.jsonl``; ``--table --record``
writes the latest row of each part into RESULTS.md. Pictures go to ``--pictures``
(default ``docs/_static``).

    python benchmarks/bench_fields.py --part coin
    python benchmarks/bench_fields.py --part hypernet --dataset cifar10 --minutes 15
    python benchmarks/bench_fields.py --table --record
    python benchmarks/bench_fields.py --quick          # CI smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _results import record_section

import hyperfunc as hf
from hyperfunc.fields import (
    CACHE_BYTES,
    FieldsConfig,
    Functa,
    GuidedHyperNet,
    ImageHyperNet,
    MetaInit,
    evaluate_fields,
    fit,
    image_to_coords,
    normalized_convolution,
    psnr,
    render,
    save_grid,
    ssim,
    train_fields,
)

HERE = Path(__file__).resolve().parent
RUNS = HERE / "fields_runs.jsonl"
DATA = HERE.parents[1] / "shared" / "data"
PICTURES = HERE.parent / "docs" / "_static"
COIN_STEPS = (1000, 2000, 5000, 10000)
COIN_PUBLISHED = {1000: 25.97, 2000: 27.98, 5000: 29.88, 10000: 30.70}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def save(row: dict[str, Any], runs: Path) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M")
    row = {"date": stamp, "machine": machine(), "command": " ".join(sys.argv), **row}
    print(json.dumps(row))
    with runs.open("a") as f:
        f.write(json.dumps(row) + "\n")


def cifar(data: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    name = "cifar10_test2k.npz" if split == "test" else "cifar10_train5k.npz"
    with np.load(data / name, allow_pickle=False) as d:
        x, y = d[f"x_{split}"], d[f"y_{split}"]
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y.astype(np.int64))


def coin_images(data: Path, per_class: int = 20) -> torch.Tensor:
    """The first ``per_class`` test images of each class, class by class, as float in [0, 1]."""
    x, y = cifar(data, "test")
    idx = torch.cat([(y == c).nonzero().flatten()[:per_class] for c in range(10)])
    return x[idx].float() / 255


# ------------------------------------------------------------------ coin
def part_coin(args: argparse.Namespace) -> dict[str, Any]:
    images = coin_images(args.data, 2 if args.quick else 20)
    steps = (5, 10) if args.quick else COIN_STEPS
    target = hf.stateless(hf.targets.siren(2, 3, hidden=(18, 18), w0=30.0))
    assert target.spec.size == 453
    coords, values = image_to_coords(images)
    start = target.init_params((len(images),), generator=torch.Generator().manual_seed(args.seed))

    # time per step: batched vs a per-image loop, measured in this run, same starting weights
    def loop_steps(n: int) -> float:
        nets, opts = [], []
        for i in range(len(images)):
            net = hf.targets.siren(2, 3, hidden=(18, 18), w0=30.0)
            net.load_state_dict({k: v[i] for k, v in start.items()})
            nets.append(net)
            opts.append(torch.optim.Adam(net.parameters(), lr=2e-4))
        t0 = time.perf_counter()
        for _ in range(n):
            for i, (net, opt) in enumerate(zip(nets, opts)):
                opt.zero_grad()
                (net(coords) - values[i]).pow(2).mean().backward()
                opt.step()
        return (time.perf_counter() - t0) / n

    timing_steps = 3 if args.quick else 30
    loop_s = statistics.median(loop_steps(timing_steps) for _ in range(3))
    batched_s = statistics.median(
        fit(target, start, coords, values, steps=timing_steps, lr=2e-4, show_progress=False).seconds
        / timing_steps for _ in range(3)
    )
    res = fit(target, start, coords, values, steps=steps[-1], lr=2e-4, record_at=steps,
              show_progress=not args.quick)
    mean = {s: float(res.psnr[s].mean()) for s in steps}
    for s in steps:
        print(f"step {s}: mean PSNR {mean[s]:.2f} dB (COIN {COIN_PUBLISHED.get(s, float('nan'))})")
    print(f"per step: batched {1000 * batched_s:.1f} ms, per-image loop {1000 * loop_s:.1f} ms "
          f"({loop_s / batched_s:.1f}×)")
    if not args.quick:
        rec = render(target, res.params, 32)
        save_grid({"CIFAR-10": images[::20][:10], "COIN fit 10k": rec[::20][:10]},
                  args.pictures / "fields_coin.png")
    return {"part": "coin", "images": len(images), "psnr": {str(s): round(mean[s], 3) for s in steps},
            "batched_ms": round(1000 * batched_s, 2), "loop_ms": round(1000 * loop_s, 2),
            "fit_seconds": round(res.seconds, 1)}


# ---------------------------------------------------------------- render
def arithmetic_bound() -> float:
    """Mpx/s if a SIREN 2→32→32→32→3 cost only its two hidden layers' matmuls and sines.

    Timed on one cache-sized tile ([8, 2048, 32], in place, no allocation): the work no
    rendering strategy avoids (the first layer and the 3-wide output are left out).
    """
    h, w, bias = torch.randn(8, 2048, 32) * 3, torch.randn(8, 32, 32) / 6, torch.randn(8, 1, 32)
    dst = torch.empty_like(h)
    for _ in range(3):
        torch.baddbmm(bias, h, w, out=dst).sin_()
    reps = 50
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.baddbmm(bias, h, w, out=dst).sin_()
    per_layer = (time.perf_counter() - t0) / reps / (8 * 2048)  # seconds per pixel per layer
    return 1e-6 / (2 * per_layer)


def part_render(args: argparse.Namespace) -> dict[str, Any]:
    """Pixels/s of B SIRENs rendered four ways, timed in one run (median of 5, interleaved).

    ``batched``: :func:`render` with its defaults (the fused tiled path);
    ``chunked``: :func:`render` with an explicit chunk (``target.batched`` per chunk, the
    generic path, chunk as the automatic choice for other targets); ``library_loop``:
    :func:`render` called per function; ``module_loop``: a plain per-image loop, each
    weight set in an ``nn.Module`` SIREN evaluated on the whole grid (``functional_call``).
    """
    b, sides = (8, (16, 32)) if args.quick else (200, (32, 128, 256))
    module = hf.targets.siren(2, 3, hidden=(32, 32, 32))
    target = hf.stateless(module)
    params = target.init_params((b,), generator=torch.Generator().manual_seed(0))
    chunk = max(1, CACHE_BYTES // (4 * b * 32))
    render(target, params, 16)  # warm-up
    out: dict[str, Any] = {"part": "render", "functions": b, "sides": list(sides), "chunk": chunk,
                           "bound_mpx_s": round(arithmetic_bound(), 3)}
    print(f"arithmetic bound (two hidden 32×32 layers' matmuls and sines on a cached tile): "
          f"{out['bound_mpx_s']:.2f} Mpx/s")
    for side in sides:
        coords = hf.fields.grid(side, side)

        def module_loop(coords: torch.Tensor = coords) -> None:
            with torch.no_grad():
                for i in range(b):
                    torch.func.functional_call(module, {k: v[i] for k, v in params.items()}, (coords,))

        ways: dict[str, Callable[[], object]] = {
            "batched": lambda side=side: render(target, params, side),
            "chunked": lambda side=side: render(target, params, side, chunk=chunk),
            "library_loop": lambda side=side: [
                render(target, {k: v[i:i + 1] for k, v in params.items()}, side) for i in range(b)
            ],
            "module_loop": module_loop,
        }
        times: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(5):  # interleaved, so drifts in machine load hit every way alike
            for k, f in ways.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        px = b * side * side
        mpx = {k: round(px / statistics.median(v) / 1e6, 3) for k, v in times.items()}
        print(f"render {b} SIRENs 2-32-32-32-3 at {side}×{side} (Mpx/s): " +
              ", ".join(f"{k} {v:.2f}" for k, v in mpx.items()) +
              f"; batched / module loop {mpx['batched'] / mpx['module_loop']:.1f}×")
        out[str(side)] = {f"{k}_mpx_s": v for k, v in mpx.items()}
    return out


# ------------------------------------------------------- hypernet / meta-init
def dataset(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    if args.dataset == "cifar10":
        return cifar(args.data, "train")[0], cifar(args.data, "test")[0]
    with np.load(args.data / "mnist.npz", allow_pickle=False) as d:
        return torch.from_numpy(d["x_train"])[:, None], torch.from_numpy(d["x_test"][:2000])[:, None]


def build(args: argparse.Namespace, channels: int, size: int) -> hf.fields.FieldMethod:
    torch.manual_seed(args.seed)
    hidden = (16, 16) if args.quick else (32, 32, 32)
    target = hf.stateless(hf.targets.siren(2, channels, hidden=hidden, w0=30.0))
    if args.method == "meta-init":
        return MetaInit(channels, size, target, inner_steps=3, inner_lr=1e-2)
    if args.method == "functa":  # a latent per image fitted in 3 meta-learned steps (bench_functa.py's model)
        hidden = (16, 16) if args.quick else (128,) * 5
        target = hf.stateless(hf.targets.siren(2, channels, hidden=hidden, w0=30.0))
        return Functa(channels, size, target, latent_dim=16 if args.quick else args.latent)
    generator = ImageHyperNet
    if args.method == "guided-hypernet":  # corrects bicubic upsampling or the normalized-convolution fill
        generator = GuidedHyperNet
        features = generator.coordinate_features(channels)  # y, x, the estimate and the mask
        target = hf.stateless(hf.targets.siren(features, channels, hidden=hidden, w0=30.0))
    if args.quick:
        return generator(channels, size, target, embedding_dim=32, encoder_widths=(8, 16), hidden=(64,))
    return generator(channels, size, target, embedding_dim=256, encoder_widths=(32, 64, 128), hidden=(256,))


def config(args: argparse.Namespace, **extra: Any) -> FieldsConfig:
    """A part's training settings: steps, batch, rate and seed from the flags, ``--minutes`` the limit."""
    return FieldsConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        time_limit=args.minutes, progress=not args.quick, **extra)


def pick_rate(model: hf.fields.FieldMethod, held_out: torch.Tensor, steps: int) -> tuple[float, float]:
    """The refinement rate with the best PSNR on held-out training images."""
    scores = {lr: evaluate_fields(model, held_out, refine_steps=steps, refine_lr=lr).psnr
              for lr in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)}
    best = max(scores, key=lambda k: scores[k])
    return best, scores[best]


def part_hypernet(args: argparse.Namespace) -> dict[str, Any]:
    train, test = dataset(args)
    if args.quick:
        train, test = train[:64], test[:16]
    n_hold = 8 if args.quick else 200
    held_out, train = train[-n_hold:], train[:-n_hold]
    model = build(args, train.shape[1], train.shape[-1])
    t0 = time.perf_counter()
    results = train_fields(model, train, config(args))
    minutes = (time.perf_counter() - t0) / 60
    steps_done = results["steps_done"]
    q0 = evaluate_fields(model, test)
    rate, _ = pick_rate(model, held_out, 3)
    q3 = evaluate_fields(model, test, refine_steps=3, refine_lr=rate)
    print(f"{args.method} on {args.dataset}: {steps_done} steps in {minutes:.1f} min; test PSNR "
          f"{q0.psnr:.2f} ± {q0.psnr_ci:.2f} dB (SSIM {q0.ssim:.3f}), after 3 refinement steps "
          f"(Adam {rate:g}) "
          f"{q3.psnr:.2f} ± {q3.psnr_ci:.2f} dB (SSIM {q3.ssim:.3f})")
    if not args.quick:
        x = test[:10].float() / 255
        save_grid({"test image": x, "generated": model.reconstruct(x),
                   "+3 steps": model.reconstruct(x, refine_steps=3, refine_lr=rate),
                   "rendered 4×": model.reconstruct(x, size=4 * x.shape[-1])},
                  args.pictures / f"fields_{args.method}_{args.dataset}.png")
    return {"part": "hypernet", "method": args.method, "dataset": args.dataset, "steps": steps_done,
            "generator": type(getattr(model, "hypernet", model)).__name__,
            "minutes": round(minutes, 1), "batch_size": args.batch_size, "lr": args.lr,
            "params": sum(p.numel() for p in model.parameters()), "test_images": len(test),
            "psnr0": round(q0.psnr, 3), "psnr0_ci": round(q0.psnr_ci, 3), "ssim0": round(q0.ssim, 4),
            "refine_lr": rate, "psnr3": round(q3.psnr, 3), "psnr3_ci": round(q3.psnr_ci, 3),
            "ssim3": round(q3.ssim, 4)}


# --------------------------------------------------------------- superres
def part_superres(args: argparse.Namespace) -> dict[str, Any]:
    with np.load(args.data / "omniglot_28.npz", allow_pickle=False) as d:
        train = torch.from_numpy(d["background_images"].reshape(-1, 1, 28, 28))
        low = torch.from_numpy(d["evaluation_images"][:, 0].reshape(-1, 1, 28, 28))  # drawer 1 of each
    with np.load(args.data / "omniglot_105_bits.npz", allow_pickle=False) as d:
        bits = d["evaluation_bits"][:, 0]
    high = torch.from_numpy(np.unpackbits(bits, axis=-1)[..., :105].astype(np.float32))[:, None]
    n_test = 16 if args.quick else 500
    if args.quick:
        train = train[:64]
    low, high = low[:n_test], high[:n_test]
    n_hold = 8 if args.quick else 200
    held_out, train = train[-n_hold:], train[:-n_hold]
    with np.load(args.data / "omniglot_105_bits.npz", allow_pickle=False) as d:  # the training 105×105s
        ink = np.unpackbits(d["background_bits"][: (len(train) + n_hold) // 20 + 1], axis=-1)[..., :105]
    ink105 = torch.from_numpy(ink.reshape(-1, 1, 105, 105) * np.uint8(255))[: len(train) + n_hold]
    # with --paired: the background split's 105×105 images, scored at 1024 random pixels
    paired = ink105[: len(train)] if args.paired else None
    model = build(args, 1, 28)
    t0 = time.perf_counter()
    results = train_fields(model, train, config(args, pixels=1024 if args.paired else None), targets=paired)
    minutes = (time.perf_counter() - t0) / 60
    steps_done = results["steps_done"]
    x = low.float() / 255
    bicubic = F.interpolate(x, size=105, mode="bicubic", align_corners=False).clamp(0, 1)
    contrast, threshold = tone_curve(held_out.float() / 255, ink105[len(train):].float() / 255)
    rows: dict[str, Any] = {}
    rec28 = evaluate_fields(model, low)
    rate, _ = pick_rate(model, held_out, 3)

    def upsampled(steps: int) -> torch.Tensor:
        return torch.cat([model.reconstruct(x[i:i + 100], size=105, refine_steps=steps, refine_lr=rate)
                          for i in range(0, len(x), 100)])

    def scored(rec: torch.Tensor) -> dict[str, float]:
        return {"psnr": float(psnr(rec, high).mean()), "ssim": float(ssim(rec, high).mean())}

    generated = upsampled(0)
    rows["hypernet0"], rows["hypernet3"] = scored(generated), scored(upsampled(3))
    if isinstance(model, Functa):  # the latent fitted in 10 steps instead of 3, then refined or not
        rows["latent10"] = scored(with_latent_steps(model, 10, lambda: upsampled(0)))
        rows["latent10+3"] = scored(with_latent_steps(model, 10, lambda: upsampled(3)))
    rows["bicubic"] = scored(bicubic)
    rows["sharpened"] = scored(sharpen(bicubic, contrast, threshold))
    for k, v in rows.items():
        print(f"super-resolution 28 → 105, {k}: PSNR {v['psnr']:.2f} dB, SSIM {v['ssim']:.3f}")
    print(f"(28×28 reconstruction PSNR {rec28.psnr:.2f} dB; {steps_done} steps in {minutes:.1f} min)")
    if not args.quick:
        save_grid({"28×28 input": x[:10], "bicubic 105": bicubic[:10], f"{args.method} 105": generated[:10],
                   "real 105": high[:10]},
                  args.pictures / f"fields_superres_omniglot{'_paired' * args.paired}{tag(args)}.png")
    return {"part": "superres", "method": args.method, "paired": args.paired, "steps": steps_done,
            "minutes": round(minutes, 1),
            "generator": type(getattr(model, "hypernet", model)).__name__,
            "test_images": len(x), "psnr28": round(rec28.psnr, 3), "refine_lr": rate,
            "contrast": contrast, "threshold": threshold,
            **{f"{k}_{m}": round(v[m], 4) for k, v in rows.items() for m in ("psnr", "ssim")}}


def sharpen(up: torch.Tensor, contrast: float, threshold: float) -> torch.Tensor:
    """A global tone curve on upsampled ink: ``clamp(contrast · (up - threshold) + 0.5, 0, 1)``."""
    return (contrast * (up - threshold) + 0.5).clamp(0, 1)


def tone_curve(low: torch.Tensor, high: torch.Tensor) -> tuple[float, float]:
    """The (contrast, threshold) of :func:`sharpen` on bicubic upsampling with the best PSNR on pairs.

    A second classical baseline for binary ink: bicubic's grey edges pushed towards 0 and 1.
    """
    up = F.interpolate(low, size=high.shape[-1], mode="bicubic", align_corners=False).clamp(0, 1)
    curves = [(a, t) for a in (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
              for t in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)]
    return max(curves, key=lambda at: float(psnr(sharpen(up, *at), high).mean()))


# ---------------------------------------------------------------- inpaint
def masks(n: int, size: int, seed: int) -> dict[str, torch.Tensor]:
    """``[n, 1, size, size]`` masks (1 = known): half the pixels at random; a centre square missing."""
    g = torch.Generator().manual_seed(seed)
    square = torch.ones(n, 1, size, size)
    lo, hi = size // 2 - 3 * size // 16, size // 2 + 3 * size // 16  # 12 × 12 of 32 × 32
    square[:, :, lo:hi, lo:hi] = 0
    return {"random half": (torch.rand(n, 1, size, size, generator=g) < 0.5).float(), "centre square": square}


def part_inpaint(args: argparse.Namespace) -> dict[str, Any]:
    """ImageHyperNet trained on CIFAR-10, filling masked test pixels, against two baselines."""
    train, test = dataset(args)
    n_test = 16 if args.quick else 500
    if args.quick:
        train = train[:64]
    x = test[:n_test].float() / 255
    model = build(args, train.shape[1], train.shape[-1])
    t0 = time.perf_counter()
    results = train_fields(model, train, config(args, mask_rate=args.mask_rate))
    minutes = (time.perf_counter() - t0) / 60
    steps_done = results["steps_done"]
    refine_lr, scratch_steps = 1e-3, 3 if args.quick else 300
    whole = {k: round(evaluate_fields(model, x, refine_steps=k, refine_lr=refine_lr).psnr, 3) for k in (0, 3)}
    print(f"whole images: PSNR {whole[0]:.2f} dB, +3 steps {whole[3]:.2f} dB")
    out: dict[str, Any] = {"part": "inpaint", "method": args.method, "dataset": args.dataset,
                           "mask_rate": args.mask_rate, "steps": steps_done, "minutes": round(minutes, 1),
                           "test_images": n_test, "refine_lr": refine_lr, "scratch_steps": scratch_steps,
                           "whole_psnr": {str(k): v for k, v in whole.items()}}
    coords, values = image_to_coords(x)
    # the from-scratch baseline is the same small SIREN whatever the method (fitting 500 large ones is slow)
    scratch = hf.stateless(hf.targets.siren(2, x.shape[1], hidden=(32, 32, 32), w0=30.0))
    shown: dict[str, torch.Tensor] = {}
    for name, m in masks(n_test, x.shape[-1], args.seed).items():
        def filled(k: int, m: torch.Tensor = m) -> torch.Tensor:
            return torch.cat([model.reconstruct(x[i:i + 100], mask=m[i:i + 100], refine_steps=k,
                                                refine_lr=refine_lr) for i in range(0, n_test, 100)])

        recs = {f"generated+{k}": filled(k) for k in (0, 3, 30)}
        if isinstance(model, Functa):
            recs["10 latent steps"] = with_latent_steps(model, 10, lambda: filled(0))
        start = scratch.init_params((n_test,), generator=torch.Generator().manual_seed(args.seed))
        fitted = fit(scratch, start, coords, values, steps=scratch_steps, lr=refine_lr,
                     mask=m.reshape(n_test, -1), show_progress=False).params
        recs["fit from scratch"] = render(scratch, fitted, x.shape[-1]).clamp(0, 1)
        recs["normalized convolution"] = normalized_convolution(x, m)
        per_image = {k: psnr(r, x, where=1 - m) for k, r in recs.items()}
        scores = {k: round(float(v.mean()), 3) for k, v in per_image.items()}
        print(f"inpainting ({name}), PSNR on the missing pixels: " +
              ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
        out[name] = scores
        best = max((k for k in recs if k.startswith(("generated", "10 latent"))), key=lambda k: scores[k])
        gain = per_image[best] - per_image["normalized convolution"]  # paired, image by image
        out.setdefault("gain", {})[name] = {"fill": best, "mean": round(float(gain.mean()), 3),
                                            "ci": round(1.96 * float(gain.std()) / math.sqrt(n_test), 3)}
        print(f"  {best} − normalized convolution: {gain.mean():+.2f} ± {out['gain'][name]['ci']:.2f} dB "
              "(95 % interval over the images)")
        if name == "centre square":
            shown = {"masked": x[:10] * m[:10], best: recs[best][:10],
                     "from scratch": recs["fit from scratch"][:10],
                     "normalized conv.": recs["normalized convolution"][:10], "real": x[:10]}
    if not args.quick:
        masked = f"_masked{args.mask_rate:g}" if args.mask_rate else ""
        save_grid(shown, args.pictures / f"fields_inpaint_{args.dataset}{masked}{tag(args)}.png")
    return out


def with_latent_steps(model: Functa, steps: int, call: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``call()`` with the functa's latents fitted in ``steps`` steps instead of its training number."""
    trained, model.inner_steps = model.inner_steps, steps
    try:
        return call()
    finally:
        model.inner_steps = trained


def tag(args: argparse.Namespace) -> str:
    """A picture's name suffix for methods other than the image hypernetwork (whose pictures came first)."""
    return "" if args.method == "image-hypernet" else f"_{args.method}"


# ------------------------------------------------------------------ table
def latest(runs: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if runs.exists():
        for line in runs.read_text().splitlines():
            row = json.loads(line)
            where = f"-{row['method']}-{row.get('dataset', 'omniglot')}" if "method" in row else ""
            if row.get("paired"):
                where += "-paired"
            if row.get("mask_rate"):
                where += f"-masked{row['mask_rate']:g}"
            key = row["part"] + where
            out[key] = row
    return out


#: The inpainting table's column headers for the score names of a run.
INPAINT_COLUMNS = {"generated+0": "generated", "generated+3": "+3 steps", "generated+30": "+30 steps",
                   "fit from scratch": "SIREN fit from scratch"}


def table(runs: Path) -> list[str]:
    rows = latest(runs)
    lines = []
    if "coin" in rows:
        r = rows["coin"]
        lines += [
            f"Per-image fitting (COIN) of {r['images']} CIFAR-10 test images (first 20 per class), SIREN "
            "2→18→18→3 (453 weights, w0 = 30), Adam 2e-4, full batch, all images in one batched call:",
            "", "| steps | hyperfunc mean PSNR (dB) | COIN published | difference |", "|---|---|---|---|",
        ]
        for s, v in r["psnr"].items():
            pub = COIN_PUBLISHED.get(int(s), math.nan)
            lines.append(f"| {s} | {v:.2f} | {pub:.2f} | {v - pub:+.2f} |")
        lines += ["", f"Per step: batched {r['batched_ms']} ms vs a per-image loop {r['loop_ms']} ms "
                      f"(**{r['loop_ms'] / r['batched_ms']:.1f}×**); 10k steps took {r['fit_seconds']} s. "
                      f"{r['machine']}; `{r['command']}`, {r['date']}.", ""]
    if "render" in rows:
        r = rows["render"]
        lines += [f"Rendering {r['functions']} SIRENs 2→32→32→32→3 on a grid, four ways timed in one run "
                  "(Mpx/s, median of 5 interleaved): `render` with its defaults (fused tiles), `render` with "
                  f"chunk={r.get('chunk')} (`target.batched` per chunk), `render` per function, and a plain "
                  "per-image loop of `nn.Module` SIRENs on the whole grid:", "",
                  "| resolution | batched | chunked | library per function | module loop | "
                  "batched / module loop | batched / library loop |", "|---|---|---|---|---|---|---|"]
        for side in r["sides"]:
            v = r[str(side)]
            if "module_loop_mpx_s" not in v:  # an older record: batched vs library loop only
                v = {**v, "chunked_mpx_s": math.nan, "module_loop_mpx_s": math.nan,
                     "library_loop_mpx_s": v["loop_mpx_s"]}
            lines.append(f"| {side}×{side} | {v['batched_mpx_s']:.2f} | {v['chunked_mpx_s']:.2f} | "
                         f"{v['library_loop_mpx_s']:.2f} | {v['module_loop_mpx_s']:.2f} | "
                         f"**{v['batched_mpx_s'] / v['module_loop_mpx_s']:.1f}×** | "
                         f"{v['batched_mpx_s'] / v['library_loop_mpx_s']:.1f}× |")
        if "bound_mpx_s" in r:
            bound = r["bound_mpx_s"]
            parts = []
            for side in r["sides"]:
                v = r[str(side)]
                parts.append(f"{side}²: {v['batched_mpx_s'] / v['module_loop_mpx_s']:.1f}×, the loop at "
                             f"{100 * v['module_loop_mpx_s'] / bound:.0f} % of the bound")
            lines += ["", f"Arithmetic bound (only the two hidden layers' matmuls and sines, timed on one "
                          f"cache-sized tile in the same run): {bound:.2f} Mpx/s. Target: batched ≥ 3× a "
                          f"per-image loop ({'; '.join(parts)}). Where the loop runs above a third of the "
                          "bound no renderer can be 3× faster on this CPU."]
        lines += ["", f"{r['machine']}; `{r['command']}`.", ""]
    hyper = [r for k, r in rows.items() if k.startswith("hypernet")]
    if hyper:
        lines += ["Image → function (test PSNR / SSIM, mean ± 95 % interval over the test images; "
                  "refinement: "
                  "3 Adam steps on the generated weights, rate picked on 200 held-out training images):", "",
                  "| method | dataset | training | PSNR 0 steps | SSIM | PSNR 3 steps | SSIM | command |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in hyper:
            lines.append(
                f"| {r['method']} ({r.get('generator', 'MLPHyperNet')}) | {r['dataset']} | "
                f"{r['steps']} steps of {r['batch_size']}, "
                f"{r['minutes']} min | "
                f"{r['psnr0']:.2f} ± {r['psnr0_ci']:.2f} | {r['ssim0']:.3f} | {r['psnr3']:.2f} ± "
                f"{r['psnr3_ci']:.2f} (lr {r['refine_lr']:g}) | {r['ssim3']:.3f} | `{r['command']}` |")
        lines += ["", f"{hyper[-1]['machine']}.", ""]
    sr = [r for k, r in rows.items() if k.startswith("superres")]
    for r in sr:
        how = ("on 28×28 → 105×105 pairs of the background split (the functions generated from the "
               "28×28 image scored at 1,024 random pixels of the 105×105 one, `--paired`)" if r.get("paired")
               else "on the 28×28 background split (never seeing a 105×105 image)")
        lines += [f"Super-resolution on Omniglot ({r['test_images']} evaluation characters, drawer 1): "
                  f"{r['method']} trained {how} ({r['steps']} steps, "
                  f"{r['minutes']} min), "
                  "rendered at 105×105 and compared with the real 105×105 image:", "",
                  "| upsampling 28 → 105 | PSNR (dB) | SSIM |", "|---|---|---|",
                  f"| bicubic | {r['bicubic_psnr']:.2f} | {r['bicubic_ssim']:.3f} |",
                  *([f"| bicubic sharpened by a tone curve fitted on 200 training pairs "
                     f"(contrast {r['contrast']:g}, threshold {r['threshold']:g}) | "
                     f"{r['sharpened_psnr']:.2f} | {r['sharpened_ssim']:.3f} |"]
                    if "sharpened_psnr" in r else []),
                  f"| generated function | {r['hypernet0_psnr']:.2f} | {r['hypernet0_ssim']:.3f} |",
                  f"| generated + 3 refinement steps (Adam {r.get('refine_lr', 1e-3):g}) | "
                  f"{r['hypernet3_psnr']:.2f} | "
                  f"{r['hypernet3_ssim']:.3f} |",
                  *([f"| latent fitted in 10 steps instead of 3 | {r['latent10_psnr']:.2f} | "
                     f"{r['latent10_ssim']:.3f} |"] if "latent10_psnr" in r else []),
                  *([f"| latent fitted in 10 steps + 3 refinement steps | {r['latent10+3_psnr']:.2f} | "
                     f"{r['latent10+3_ssim']:.3f} |"] if "latent10+3_psnr" in r else []),
                  "", f"(28×28 reconstruction PSNR {r['psnr28']:.2f} dB.) {r['machine']}; "
                  f"`{r['command']}`.", ""]
    for key in [k for k in rows if k.startswith("inpaint")]:
        r = rows[key]
        shown = (f"{100 * r['mask_rate']:.0f} % of its training images shown with random holes "
                 "(`--mask-rate`)" if r.get("mask_rate") else "never on masked images")
        sees = {"functa": "The latent is fitted to the known pixels only",
                "guided-hypernet": "The generator sees the normalized-convolution fill and the mask, and its "
                                   "functions correct that fill"}.get(
            r["method"], "The generator sees missing pixels as the mean of the known ones")
        lines += [f"Inpainting on {r['dataset']} ({r['test_images']} test images; {r['method']} trained "
                  f"{r['minutes']} min, {r['steps']} steps, {shown}): PSNR (dB) on the missing "
                  f"pixels. {sees}; refinement "
                  f"(Adam {r['refine_lr']:g}) and the from-scratch fit of a SIREN "
                  f"(3×32 hidden, {r['scratch_steps']} steps) use "
                  "the known pixels only; normalized convolution is a Gaussian (σ = 1) fill:", "",
                  "| mask | " + " | ".join(INPAINT_COLUMNS.get(k, k) for k in r["random half"]) + " |",
                  "|---" * (1 + len(r["random half"])) + "|"]
        for name in ("random half", "centre square"):
            lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in r[name].values()) + " |")
        for name, g in r.get("gain", {}).items():
            lines += ["", f"{name}: the best generated fill ({INPAINT_COLUMNS.get(g['fill'], g['fill'])}) "
                          "minus normalized convolution, image by image: "
                          f"**{g['mean']:+.2f} ± {g['ci']:.2f} dB** (mean ± 95 % interval)."]
        if "whole_psnr" in r:
            w = r["whole_psnr"]
            trivial = (" (its guide is then the image itself: there is nothing to correct)"
                       if r["method"] == "guided-hypernet" else "")
            lines += ["", f"The same model on the whole (unmasked) test images: {w['0']:.2f} dB, "
                          f"+3 steps {w['3']:.2f} dB{trivial}."]
        lines += ["", f"{r['machine']}; `{r['command']}`.", ""]
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["coin", "render", "hypernet", "superres", "inpaint"])
    p.add_argument("--dataset", choices=["cifar10", "mnist"], default="cifar10")
    p.add_argument("--method", choices=["image-hypernet", "guided-hypernet", "meta-init", "functa"],
                   default="image-hypernet")
    p.add_argument("--latent", type=int, default=256, help="functa: the latent size")
    p.add_argument("--minutes", type=float, default=15.0, help="training time budget")
    p.add_argument("--steps", type=int, default=1_000_000,
                   help="training steps (the time budget usually ends first)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--paired", action="store_true",
                   help="superres: train on 28×28 → 105×105 pairs (the background split's 105×105 images)")
    p.add_argument("--mask-rate", type=float, default=0.0,
                   help="inpaint: share of training images shown with random holes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--pictures", type=Path, default=PICTURES)
    p.add_argument("--runs-file", type=Path, default=RUNS)
    p.add_argument("--quick", action="store_true", help="CI smoke run of every part (seconds)")
    p.add_argument("--table", action="store_true")
    p.add_argument("--record", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.table:
        lines = table(args.runs_file)
        print("\n".join(lines))
        if args.record:
            record_section("fields", ["## Continuous representations (CPU)", "", *lines])
        return 0
    parts = {"coin": part_coin, "render": part_render, "hypernet": part_hypernet, "superres": part_superres,
             "inpaint": part_inpaint}
    if args.quick:
        args.steps, args.minutes, args.batch_size, args.mask_rate, args.paired = 3, 1.0, 4, 0.5, True
        for name, fn in parts.items():
            print(name, json.dumps(fn(args))[:200])
        # and the parts with functa (latents fitted to the known / low-resolution pixels) and with
        # the functions that correct bicubic upsampling / the normalized-convolution fill
        for args.method in ("functa", "guided-hypernet"):
            for name in ("superres", "inpaint"):
                print(name, args.method, json.dumps(parts[name](args))[:200])
        return 0
    if args.part is None:
        p.error("give --part, --table or --quick")
    save(parts[args.part](args), args.runs_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
