"""Images as modulations (COIN++ / functa) on CIFAR-10: test PSNR against latent size and training time.

One run trains :class:`hyperfunc.fields.Functa` (a shared SIREN whose hidden layers a
latent shifts, the latent fitted by ``--inner-steps`` meta-learned Meta-SGD steps) on the
5,000 CIFAR-10 training images of ../shared/data for ``--minutes`` of wall time, with
Adam on the shared weights, the latent-to-shift map and the rates (second order through
the inner steps). Every ``--eval-every`` minutes (not counted as training time) it scores
500 test images at 3 and 10 latent steps; at the end, all 2,000 test images. Each run
appends a JSON line to ``benchmarks/functa_runs.jsonl``; ``--table --record`` writes the
latest run per latent size and training time into RESULTS.md (against COIN++'s published
curve), and ``--table --plot PATH`` draws PSNR against training time. ``--draw MODEL``
draws test images next to their reconstructions at 3 and 10 steps by a model saved with
``--save-model``.

    python benchmarks/bench_functa.py --latent 256 --minutes 20 --save-model functa.pt
    python benchmarks/bench_functa.py --table --record --plot docs/_static/functa_curves.png
    python benchmarks/bench_functa.py --latent 256 --draw functa.pt docs/_static/functa_reconstructions.png
    python benchmarks/bench_functa.py --quick          # CI smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _results import record_section

import hyperfunc as hf
from hyperfunc.fields import Functa, ImageBatch, psnr, render, save_grid

HERE = Path(__file__).resolve().parent
RUNS = HERE / "functa_runs.jsonl"
DATA = HERE.parents[1] / "shared" / "data"
#: COIN++ without quantisation (EmilienDupont/coinpp, results/cifar10/ablations/coinpp_base.json):
#: latent size -> (PSNR at 3 steps, at 10 steps); trained on 50,000 images for 500 epochs on a GPU.
COINPP = {128: (24.38, 24.67), 256: (27.52, 27.84), 384: (29.72, 30.08), 512: (31.73, 32.13)}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def cifar(data: Path) -> tuple[torch.Tensor, torch.Tensor]:
    train = np.load(data / "cifar10_train5k.npz")["x_train"]
    test = np.load(data / "cifar10_test2k.npz")["x_test"]
    as_tensor = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return as_tensor(train), as_tensor(test)


def test_psnr(model: Functa, images: torch.Tensor, steps: int, chunk: int = 100) -> float:
    """Mean per-image PSNR of the functions fitted with ``steps`` latent steps."""
    values = []
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk].float() / 255
        with torch.no_grad():
            params = model.modulation(model.latents(x, steps=steps))
            values.append(psnr(render(model.target, params, x.shape[-1]).clamp(0, 1), x))
    return float(torch.cat(values).mean())


def build(args: argparse.Namespace) -> Functa:
    """The functa the flags describe (SIREN ``--depth`` × ``--width``, ``--latent``, inner steps and rate)."""
    target = hf.stateless(hf.targets.siren(2, 3, hidden=(args.width,) * args.depth, w0=args.w0))
    return Functa(3, 32, target, latent_dim=args.latent, inner_steps=args.inner_steps, inner_lr=args.inner_lr)


def draw(args: argparse.Namespace, saved: Path, path: Path) -> None:
    """Eight test images of eight classes (the test set is sorted by class), fitted in 3 and 10 steps."""
    model = build(args)
    model.load_state_dict(torch.load(saved, weights_only=True))
    x = cifar(args.data)[1][::250][:8].float() / 255
    with torch.no_grad():
        rows = {"test image": x}
        for steps in (3, 10):
            params = model.modulation(model.latents(x, steps=steps))
            rows[f"{steps} steps"] = render(model.target, params, 32).clamp(0, 1)
        rows["10 steps, 4×"] = render(model.target, params, 128).clamp(0, 1)
    if save_grid(rows, path) is not None:
        print(f"wrote {path}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    train, test = cifar(args.data)
    if args.quick:
        train, test = train[:64], test[:16]
    model = build(args)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    curve, steps, trained = [], 0, 0.0
    probe = test[:500]
    next_eval = args.eval_every * 60
    budget = args.minutes * 60
    print(
        f"functa latent {args.latent}, SIREN {args.depth}×{args.width} (w0 {args.w0}), "
        f"{sum(p.numel() for p in model.parameters()):,} weights; {args.minutes} min",
        flush=True,
    )
    while trained < budget and (not args.quick or steps < 2):
        start = time.perf_counter()
        idx = torch.randint(0, len(train), (args.batch_size,), generator=g)
        loss, logs = model.loss(ImageBatch(train[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        trained += time.perf_counter() - start
        steps += 1
        if trained >= next_eval or trained >= budget:
            point = {
                "minutes": round(trained / 60, 2),
                "steps": steps,
                "train_psnr": round(logs["psnr"], 2),
                "psnr3": round(test_psnr(model, probe, 3), 2),
                "psnr10": round(test_psnr(model, probe, 10), 2),
            }
            curve.append(point)
            print(json.dumps(point), flush=True)
            next_eval += args.eval_every * 60
    final3, final10 = test_psnr(model, test, 3), test_psnr(model, test, 10)
    row = {
        "latent": args.latent,
        "width": args.width,
        "depth": args.depth,
        "w0": args.w0,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "inner_lr": args.inner_lr,
        "inner_steps": args.inner_steps,
        "minutes": args.minutes,
        "steps": steps,
        "test_images": len(test),
        "train_images": len(train),
        "psnr3": round(final3, 2),
        "psnr10": round(final10, 2),
        "curve": curve,
        "machine": machine(),
        "command": "python benchmarks/bench_functa.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"test PSNR over {len(test)} images: {final3:.2f} dB at 3 steps, {final10:.2f} dB at 10 steps")
    if args.save_model:
        torch.save(model.state_dict(), args.save_model)
    return row


def latest(runs: Path) -> dict[tuple[int, float], dict[str, Any]]:
    """The latest run of each (latent size, training minutes)."""
    rows: dict[tuple[int, float], dict[str, Any]] = {}
    for line in runs.read_text().splitlines() if runs.exists() else []:
        row = json.loads(line)
        rows[row["latent"], row["minutes"]] = row
    return dict(sorted(rows.items()))


def table(rows: dict[tuple[int, float], dict[str, Any]]) -> list[str]:
    out = [
        "| latent | SIREN | batch | minutes (steps) | PSNR 3 steps | PSNR 10 steps | COIN++ 3 / 10 "
        "steps | machine |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for (latent, _), r in rows.items():
        published = COINPP.get(latent)
        ref = f"{published[0]:.2f} / {published[1]:.2f}" if published else "–"
        out.append(
            f"| {latent} | {r['depth']}×{r['width']}, w0 {r['w0']} | {r['batch_size']} | {r['minutes']} "
            f"({r['steps']:,}) | {r['psnr3']:.2f} | {r['psnr10']:.2f} | {ref} | {r['machine']} |"
        )
    return out


def gap(r: dict[str, Any]) -> str:
    """Where the longest run ``r`` stands against COIN++'s training, in words."""
    before, end = r["curve"][-2], r["curve"][-1]
    return (
        f"Where the gap to COIN++ comes from: training. The longest run here fitted "
        f"{r['steps'] * r['batch_size']:,} images ({r['steps']:,} steps of {r['batch_size']}); COIN++ "
        "fits 25,000,000 (500 epochs of 50,000), with a SIREN of about 35 times the weights (10×512 "
        f"against 5×128). The curves still rise: the {r['minutes']:g}-minute run gained "
        f"{end['psnr3'] - before['psnr3']:.2f} dB in its last {end['minutes'] - before['minutes']:.0f} "
        f"minutes, and its training PSNR ({end['train_psnr']:.2f} dB on its last batch) is close to its "
        "test PSNR, so 5,000 training images are not yet what limits it."
    )


def plot(rows: dict[tuple[int, float], dict[str, Any]], path: Path) -> None:
    fig = hf.run.new_figure(figsize=(6.5, 4))
    if fig is None:
        return
    ax = fig.subplots()
    colours = {latent: f"C{i}" for i, latent in enumerate(sorted({latent for latent, _ in rows}))}
    drawn: set[int] = set()
    for (latent, minutes), r in rows.items():  # a latent's longer runs dashed, in its colour
        xs = [p["minutes"] for p in r["curve"]]
        ax.plot(
            xs,
            [p["psnr3"] for p in r["curve"]],
            marker="o",
            color=colours[latent],
            linestyle="--" if latent in drawn else "-",
            label=f"latent {latent}, {minutes:g} min",
        )
        if latent in COINPP and latent not in drawn:
            ax.axhline(COINPP[latent][0], color=colours[latent], linestyle=":", linewidth=1)
        drawn.add(latent)
    ax.set_xlabel("training minutes (this CPU)")
    ax.set_ylabel("test PSNR at 3 steps (dB, 500 images)")
    ax.set_title("functa on CIFAR-10 (dotted: COIN++ published, far longer training)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    hf.run.save_figure(fig, path)
    print(f"wrote {path}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latent", type=int, default=256)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=5, help="hidden layers")
    p.add_argument("--w0", type=float, default=30.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4, help="outer Adam rate")
    p.add_argument("--inner-lr", type=float, default=1e-2)
    p.add_argument("--inner-steps", type=int, default=3)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--eval-every", type=float, default=2.0, help="minutes of training between evaluations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--runs", type=Path, default=RUNS)
    p.add_argument("--save-model", type=Path, help="save the trained model's state dict here")
    p.add_argument(
        "--draw",
        type=Path,
        nargs=2,
        metavar=("MODEL", "PICTURE"),
        help="draw test images and their fits by a saved model (the flags describing it)",
    )
    p.add_argument("--quick", action="store_true", help="a smoke run of two steps (CI)")
    p.add_argument("--table", action="store_true", help="print the latest run per latent size")
    p.add_argument("--record", action="store_true", help="with --table: write it into RESULTS.md")
    p.add_argument("--plot", type=Path, help="with --table: draw PSNR against training time")
    args = p.parse_args()
    if args.table:
        rows = latest(args.runs)
        lines = table(rows)
        print("\n".join(lines))
        if args.record:
            last = next(reversed(rows.values()))
            record_section(
                "functa",
                [
                    "## Images as modulations (functa / COIN++), CPU",
                    "",
                    "Functa trained on the 5,000 CIFAR-10 training images of ../shared/data "
                    "(unquantised latents, Adam on the shared SIREN, the latent-to-shift map and the "
                    f"Meta-SGD rates, second order through {last['inner_steps']} inner steps), test PSNR "
                    "over the 2,000 test images at 3 and 10 latent steps. COIN++'s figures "
                    "(EmilienDupont/coinpp, results/cifar10/ablations/coinpp_base.json) come from a "
                    "10×512 SIREN trained for 500 epochs of 50,000 images on a GPU.",
                    "",
                    *lines,
                    "",
                    "Commands: "
                    + "; ".join(f"`{r['command']}` ({r['date']})" for r in rows.values())
                    + ". The curves of test PSNR against training time: `docs/_static/functa_curves.png`.",
                    "",
                    gap(max(rows.values(), key=lambda r: r["minutes"])),
                ],
            )
        if args.plot:
            plot(rows, args.plot)
        return 0
    if args.draw:
        draw(args, *args.draw)
        return 0
    if args.quick:  # a smoke run: train, save, draw, record nothing
        args.minutes, args.eval_every, args.latent, args.width, args.depth = 0.05, 1.0, 16, 16, 2
        with tempfile.TemporaryDirectory() as tmp:
            args.save_model = Path(tmp) / "functa.pt"
            run(args)
            draw(args, args.save_model, Path(tmp) / "functa.png")
        return 0
    row = run(args)
    with args.runs.open("a") as f:
        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
