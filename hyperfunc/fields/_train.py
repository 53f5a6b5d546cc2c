"""Training an image → function method over a dataset, and evaluating it (PSNR, SSIM)."""

from __future__ import annotations

import math
import time

import attrs
import torch
from torch import Tensor

from hyperfunc._progress import progress
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
        show_progress: show a progress bar.

    Returns:
        The training loss (mean squared error) of every step done.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty [N, C, H, W] tensor, got shape {list(images.shape)}")
    if not 1 <= batch_size <= len(images):
        raise ValueError(f"batch_size must be in [1, {len(images)}] (the number of images), got {batch_size}")
    if not 0.0 <= mask_rate <= 1.0:
        raise ValueError(f"mask_rate must be in [0, 1] (the share of images shown masked), got {mask_rate}")
    method.check_shape(images.shape)  # wrong channels / size fail before any step
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(method.parameters(), lr=lr)
    method.train()
    losses: list[float] = []
    start = time.perf_counter()
    bar = progress(steps, f"train {type(method).__name__}", enabled=show_progress)
    for i in bar:
        idx = torch.randint(len(images), (batch_size,), generator=g)
        mask = None
        if mask_rate > 0:
            mask = random_masks(batch_size, *images.shape[-2:], generator=g)
            mask[torch.rand(batch_size, generator=g) >= mask_rate] = 1.0
        loss = method.loss(as_float_images(images[idx]), pixels, generator=g, mask=mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        losses.append(float(loss.detach()))
        if i % 50 == 0:
            bar.set_postfix_str(f"loss {losses[-1]:.4f} psnr {-10 * math.log10(max(losses[-1], 1e-12)):.2f}")
        if time_limit is not None and time.perf_counter() - start > time_limit:
            break
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
