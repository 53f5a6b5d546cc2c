"""Training an image → function method over a dataset, and evaluating it (PSNR, SSIM)."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor

from hyperfunc._progress import progress
from hyperfunc._rundir import atomic_save, check_identity
from hyperfunc.fields._masks import random_masks
from hyperfunc.fields._method import FieldMethod, as_float_images
from hyperfunc.fields._metrics import psnr, ssim

__all__ = ["train_fields", "evaluate_fields", "Quality"]


def train_fields(
    method: FieldMethod,
    images: Tensor,
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-4,
    pixels: int | None = None,
    seed: int = 0,
    time_limit: float | None = None,
    mask_rate: float = 0.0,
    targets: Tensor | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    identity: Mapping[str, Any] | None = None,
    show_progress: bool = True,
) -> list[float]:
    """Train ``method`` with Adam on random batches of ``images`` (``[N, C, H, W]``, uint8 or float).

    Args:
        method: an :class:`FieldMethod` (its parameters are trained in place).
        images: the training images; uint8 images are converted batch by batch.
        steps: optimisation steps.
        batch_size: images per step.
        lr: Adam's learning rate.
        pixels: random pixels per image in each step's loss (``None``: all).
        seed: seeds the batches and the pixel subsets.
        time_limit: stop after this many seconds (the steps done are ``len`` of the result).
        mask_rate: share of the training images shown with pixels missing (a
            :func:`~hyperfunc.fields.random_masks` hole or scattered pixels, drawn
            per image and step) and scored on all their pixels: trains the method
            to inpaint. 0 (default) shows every image whole.
        targets: ``[N, C, H', W']``, one per training image (e.g. the same images at a
            higher resolution): the functions generated from ``images`` are scored
            on these instead (super-resolution training; see
            :meth:`FieldMethod.loss <hyperfunc.fields.FieldMethod.loss>`).
        checkpoint: a file to save the training state in (atomically), every
            ``checkpoint_every`` steps and at the end: the method's ``state_dict``
            under ``"state"``, the optimiser, the losses, the batch generator.
        checkpoint_every: steps between checkpoints.
        resume: continue from ``checkpoint`` (it must exist and come from the same
            method, images and settings; ``steps`` and ``time_limit`` count the
            steps and seconds done before). The resumed run draws the same batches
            as an uninterrupted one.
        identity: more settings a resumed checkpoint must match (e.g. the target's).
        show_progress: show a progress bar.

    Returns:
        The training loss (mean squared error) of every step done (resumed ones included).
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty [N, C, H, W] tensor, got shape {list(images.shape)}")
    if not 1 <= batch_size <= len(images):
        raise ValueError(f"batch_size must be in [1, {len(images)}] (the number of images), got {batch_size}")
    if not 0.0 <= mask_rate <= 1.0:
        raise ValueError(f"mask_rate must be in [0, 1] (the share of images shown masked), got {mask_rate}")
    if targets is not None and (targets.dim() != 4 or tuple(targets.shape[:2]) != tuple(images.shape[:2])):
        raise ValueError(
            f"targets must be [N, C, H', W'] = [{images.shape[0]}, {images.shape[1]}, H', W'] "
            f"(one per training image, the same channels, any size), got {list(targets.shape)}"
        )
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    path = None if checkpoint is None else Path(checkpoint)
    if resume and (path is None or not path.is_file()):
        raise FileNotFoundError(f"nothing to resume: checkpoint {None if path is None else str(path)!r} "
                                "does not exist (train without resume=True first)")
    method.check_shape(images.shape)  # wrong channels / size fail before any step
    ident = json.loads(json.dumps({
        "method": type(method).__name__, "images": list(images.shape), "batch_size": batch_size, "lr": lr,
        "pixels": pixels, "seed": seed, "mask_rate": mask_rate,
        "targets": None if targets is None else list(targets.shape), **(identity or {}),
    }, default=str))
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(method.parameters(), lr=lr)
    losses: list[float] = []
    done_seconds = 0.0
    if resume and path is not None:
        ckpt = torch.load(path, weights_only=False)
        check_identity(ckpt, ident, path)
        method.load_state_dict(ckpt["state"])
        opt.load_state_dict(ckpt["optimizer"])
        g.set_state(ckpt["generator"])
        losses, done_seconds = list(ckpt["losses"]), float(ckpt["train_seconds"])

    def save(seconds: float) -> None:
        if path is not None:
            atomic_save({"format": 1, "identity": ident, "state": method.state_dict(),
                         "optimizer": opt.state_dict(), "generator": g.get_state(), "losses": losses,
                         "train_seconds": seconds}, path)

    method.train()
    start = time.perf_counter() - done_seconds
    bar = progress(max(0, steps - len(losses)), f"train {type(method).__name__}", enabled=show_progress)
    for i in bar:
        idx = torch.randint(len(images), (batch_size,), generator=g)
        mask = None
        if mask_rate > 0:
            mask = random_masks(batch_size, *images.shape[-2:], generator=g)
            mask[torch.rand(batch_size, generator=g) >= mask_rate] = 1.0
        paired = None if targets is None else targets[idx]
        loss = method.loss(as_float_images(images[idx]), pixels, generator=g, mask=mask, targets=paired)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        losses.append(float(loss.detach()))
        if i % 50 == 0:
            bar.set_postfix_str(f"loss {losses[-1]:.4f} psnr {-10 * math.log10(max(losses[-1], 1e-12)):.2f}")
        if time_limit is not None and time.perf_counter() - start > time_limit:
            break
        if len(losses) % checkpoint_every == 0 and len(losses) < steps:
            save(time.perf_counter() - start)
    save(time.perf_counter() - start)
    method.eval()
    return losses


@attrs.frozen
class Quality:
    """Mean reconstruction quality over a set of images.

    Attributes:
        psnr: mean PSNR in dB (the mean of per-image PSNRs).
        psnr_ci: half-width of its 95 % confidence interval (1.96 standard errors).
        ssim: mean SSIM (``nan`` for images smaller than SSIM's 11 × 11 window).
        n: images evaluated.
    """

    psnr: float
    psnr_ci: float
    ssim: float
    n: int


def evaluate_fields(
    method: FieldMethod,
    images: Tensor,
    *,
    refine_steps: int = 0,
    refine_lr: float = 1e-3,
    batch_size: int = 100,
    size: int | None = None,
    reference: Tensor | None = None,
) -> Quality:
    """PSNR and SSIM of ``method``'s reconstructions of ``images`` (after ``refine_steps`` per image).

    With ``size`` and ``reference`` (``[N, C, size, size]``), the functions are
    rendered at ``size`` and compared with ``reference`` instead (super-resolution).
    """
    if reference is not None and (size is None or reference.shape[0] != images.shape[0]):
        raise ValueError("reference needs size= and one reference image per input image")
    method.eval()
    ps, ss = [], []
    for start in range(0, len(images), batch_size):
        x = as_float_images(images[start:start + batch_size])
        rec = method.reconstruct(x, size, refine_steps=refine_steps, refine_lr=refine_lr).detach()
        truth = x if reference is None else as_float_images(reference[start:start + batch_size]).to(rec.dtype)
        ps.append(psnr(rec, truth))
        ss.append(ssim(rec, truth) if min(truth.shape[-2:]) >= 11 else torch.full((len(x),), math.nan))
    p, s = torch.cat(ps), torch.cat(ss)
    ci = 1.96 * float(p.std()) / math.sqrt(len(p)) if len(p) > 1 else math.nan
    return Quality(float(p.mean()), ci, float(s.mean()), len(p))
