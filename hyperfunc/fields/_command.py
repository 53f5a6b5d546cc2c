"""``hyperfunc run`` for image → function methods: train on images, measure PSNR/SSIM, save pictures."""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path
from typing import Any

import torch

import hyperfunc
from hyperfunc._rundir import CHECKPOINT, RESULTS, atomic_save, prepare_out
from hyperfunc._target import stateless
from hyperfunc.fields._masks import random_masks
from hyperfunc.fields._method import as_float_images
from hyperfunc.fields._metrics import psnr
from hyperfunc.fields._plot import save_grid
from hyperfunc.fields._registered import ImageSet
from hyperfunc.fields._train import evaluate_fields, train_fields

__all__ = ["run_fields_command"]


def run_fields_command(args: argparse.Namespace, method_cls: type[Any]) -> int:
    """Execute ``hyperfunc run`` for a method of the ``fields`` family."""
    from hyperfunc._run_cli import parse_assignments

    method_args = parse_assignments(args.method_arg, "--method-arg")
    target_args = parse_assignments(args.target_arg, "--target-arg")
    task_args = parse_assignments(args.task_arg, "--task-arg")
    factory = hyperfunc.tasks.get(args.tasks)
    if "root" in inspect.signature(factory).parameters and args.data is not None:
        task_args.setdefault("root", args.data)
    images = factory(**task_args)
    if not isinstance(images, ImageSet):
        raise ValueError(
            f"task {args.tasks!r} gives {type(images).__name__}, not an ImageSet; image → function methods "
            "run on tasks such as 'cifar10-images', 'mnist-images' or 'omniglot-images'"
        )
    torch.manual_seed(args.seed)
    target_name = args.target
    target_factory = hyperfunc.targets.get(target_name)  # siren unless --target names another
    tkw: dict[str, Any] = {"in_features": 2, "out_features": images.channels}
    tkw.update(target_args)
    target = stateless(target_factory(**tkw))
    method = method_cls(images.channels, images.size, target, **method_args)
    out = Path(args.out or f"runs/{args.method}-{args.tasks}-seed{args.seed}")
    prepare_out(out, resume=args.resume, overwrite=args.overwrite)
    print(f"hyperfunc run: {args.method} on {images!r}\n  target {target!r}, out {out}")
    start = time.perf_counter()
    losses: list[float] = []
    identity = {"cli_method": args.method, "tasks": args.tasks, "task_args": task_args, "target": target_name,
                "target_args": target_args, "method_args": method_args}
    if any(p.requires_grad for p in method.parameters()):
        limit = None if args.time_limit is None else 60 * args.time_limit
        if args.resume:
            print(f"resuming the training in {out / CHECKPOINT}")
        losses = train_fields(method, images.train, steps=args.steps, batch_size=args.batch_size or 32,
                              lr=args.lr, seed=args.seed, time_limit=limit, mask_rate=args.mask_rate,
                              checkpoint=out / CHECKPOINT, resume=args.resume, identity=identity,
                              show_progress=not args.no_progress)
    else:  # nothing to train (per-image fitting): the checkpoint holds the settings
        atomic_save({"format": 1, "identity": identity, "state": method.state_dict()}, out / CHECKPOINT)
    train_s = time.perf_counter() - start
    test = images.test
    quality = {steps: evaluate_fields(method, test, refine_steps=steps, refine_lr=1e-3) for steps in (0, 3)}
    # inpainting: the test images with random holes (seeded), PSNR on their missing pixels
    holes = random_masks(len(test), images.size, generator=torch.Generator().manual_seed(args.seed))
    filled = torch.cat([
        method.reconstruct(test[i:i + 100], mask=holes[i:i + 100]).detach() for i in range(0, len(test), 100)
    ])
    inpaint = float(psnr(filled, as_float_images(test), where=1 - holes).nanmean())
    summary: dict[str, Any] = {
        "method": args.method, "tasks": args.tasks, "target": target_name, "method_args": method_args,
        "target_args": target_args, "task_args": {k: str(v) for k, v in task_args.items()},
        "steps_done": len(losses), "train_seconds": round(train_s, 1), "test_images": len(test),
        "final_train_loss": losses[-1] if losses else None,
        **{f"psnr_{s}steps": round(q.psnr, 3) for s, q in quality.items()},
        **{f"psnr_{s}steps_ci": round(q.psnr_ci, 3) for s, q in quality.items()},
        **{f"ssim_{s}steps": round(q.ssim, 4) for s, q in quality.items()},
        "inpaint_psnr_missing": round(inpaint, 3), "mask_rate": args.mask_rate,
        "refine_lr": 1e-3, "seed": args.seed,
    }
    x = test[:8].float() / 255
    save_grid({"image": x, "function": method.reconstruct(x),
               "rendered 4×": method.reconstruct(x, size=4 * images.size)}, out / "reconstructions.png")
    (out / RESULTS).write_text(json.dumps(summary, indent=2))
    print(f"test PSNR {quality[0].psnr:.2f} ± {quality[0].psnr_ci:.2f} dB (SSIM {quality[0].ssim:.3f}); "
          f"after 3 refinement steps {quality[3].psnr:.2f} dB (SSIM {quality[3].ssim:.3f})")
    print(f"inpainting (random holes, PSNR on the missing pixels): {inpaint:.2f} dB")
    print(f"results: {out / RESULTS}")
    return 0
