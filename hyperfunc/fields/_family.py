"""Image → function methods on the run layer: one training phase, then PSNR / SSIM / inpainting."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import torch
from torch import Tensor

import hyperfunc
import hyperfunc.distributed as hd
from hyperfunc._target import stateless
from hyperfunc.fields._masks import random_masks
from hyperfunc.fields._method import FieldMethod, ImageBatch, as_float_images
from hyperfunc.fields._metrics import mse, psnr, ssim
from hyperfunc.fields._plot import save_grid
from hyperfunc.fields._registered import ImageSet
from hyperfunc.run import (
    POSITIVE,
    Family,
    Phase,
    Plan,
    Request,
    RunConfig,
    RunFolder,
    accepts,
    at_least,
    between,
    check_kwargs,
    option,
)
from hyperfunc.run import train as train_run

__all__ = ["FieldsConfig", "FieldsFamily", "train_fields", "evaluate_fields", "Quality"]


@attrs.frozen(kw_only=True)
class FieldsConfig(RunConfig):
    """:class:`~hyperfunc.run.RunConfig` for image → function methods.

    Attributes:
        batch_size: images per step (default 32).
        lr: Adam's learning rate (default 1e-4).
        pixels: random pixels per image scored in each step's loss (``None``: all).
        mask_rate: share of the training images shown with pixels missing (a
            :func:`~hyperfunc.fields.random_masks` hole or scattered pixels, drawn per
            image and step) and scored on all their pixels: trains inpainting.
        refine_lr: Adam's rate for the refinement steps of the evaluation.
    """

    batch_size: int | None = option(32, "images per step", at_least(1))
    lr: float = option(1e-4, "Adam's learning rate", POSITIVE)
    pixels: int | None = option(
        None, "random pixels per image in each step's loss (default: all)", at_least(1)
    )
    mask_rate: float = option(
        0.0, "share of training images shown with random pixels missing (trains inpainting)", between(0, 1)
    )
    refine_lr: float = option(1e-3, "Adam's rate of the evaluation's refinement steps", POSITIVE)


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


def _device(method: FieldMethod) -> torch.device:
    p = next(iter(method.parameters()), None)
    return torch.device("cpu") if p is None else p.device


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
    Images are moved to the method's device batch by batch.
    """
    if reference is not None and (size is None or reference.shape[0] != images.shape[0]):
        raise ValueError("reference needs size= and one reference image per input image")
    method.eval()
    device = _device(method)
    part = hd.share(len(images))  # under torchrun each process scores its share of the images
    images = images[part]
    reference = None if reference is None else reference[part]
    ps, ss = [torch.zeros(0)], [torch.zeros(0)]
    for start in range(0, len(images), batch_size):
        x = as_float_images(images[start : start + batch_size]).to(device)
        rec = method.reconstruct(x, size, refine_steps=refine_steps, refine_lr=refine_lr).detach()
        ref = x if reference is None else as_float_images(reference[start : start + batch_size]).to(device)
        truth = ref.to(rec.dtype)
        ps.append(psnr(rec, truth).cpu())
        ss.append(ssim(rec, truth).cpu() if min(truth.shape[-2:]) >= 11 else torch.full((len(x),), math.nan))
    p, s = hd.gather(torch.cat(ps).float()), hd.gather(torch.cat(ss).float())
    ci = 1.96 * float(p.std()) / math.sqrt(len(p)) if len(p) > 1 else math.nan
    return Quality(float(p.mean()), ci, float(s.mean()), len(p))


def _phases(method: FieldMethod, images: Tensor, config: FieldsConfig, targets: Tensor | None) -> list[Phase]:
    """One phase of random batches (with masks and pixel subsets drawn from the run's generator)."""
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty [N, C, H, W] tensor, got shape {list(images.shape)}")
    method.check_shape(images.shape)  # wrong channels / size fail before any step
    bs = config.batch_size or 32
    if bs > len(images):
        raise ValueError(
            f"batch_size={bs} but there are only {len(images)} training images; lower --batch-size"
        )
    if targets is not None and (targets.dim() != 4 or tuple(targets.shape[:2]) != tuple(images.shape[:2])):
        raise ValueError(
            f"targets must be [N, C, H', W'] = [{images.shape[0]}, {images.shape[1]}, H', W'] "
            f"(one per training image, the same channels, any size), got {list(targets.shape)}"
        )
    scored = (images if targets is None else targets).shape[-2:]
    if config.pixels is not None and config.pixels > scored[0] * scored[1]:
        raise ValueError(f"pixels={config.pixels} but the scored images have {scored[0] * scored[1]} pixels")
    if not any(p.requires_grad for p in method.parameters()):
        return []  # nothing to train (per-image fitting)

    def batch(step: int, g: torch.Generator) -> ImageBatch:
        idx = torch.randint(len(images), (bs,), generator=g)
        mask = None
        if config.mask_rate > 0:
            mask = random_masks(bs, *images.shape[-2:], generator=g)
            mask[torch.rand(bs, generator=g) >= config.mask_rate] = 1.0
        pixels = None
        if config.pixels is not None:
            pixels = torch.rand(bs, scored[0] * scored[1], generator=g).argsort(dim=1)[:, : config.pixels]
        return ImageBatch(
            as_float_images(images[idx]), mask, None if targets is None else targets[idx], pixels
        )

    return [Phase("train", batch)]


def _finish(
    method: FieldMethod, test: Tensor | None, config: FieldsConfig
) -> Callable[[list[dict[str, Any]], RunFolder | None], Mapping[str, Any]]:
    def finish(records: list[dict[str, Any]], folder: RunFolder | None) -> Mapping[str, Any]:
        if test is None:
            return {}
        quality = {
            s: evaluate_fields(method, test, refine_steps=s, refine_lr=config.refine_lr) for s in (0, 3)
        }
        # inpainting: the test images with random holes (seeded), PSNR on their missing pixels
        holes = random_masks(
            len(test), method.image_size, generator=torch.Generator().manual_seed(config.seed)
        )
        device = _device(method)
        part = hd.share(len(test))  # each process fills its share of the images
        mine, mine_holes = test[part], holes[part]
        filled = [torch.zeros(0, *test.shape[1:])] + [
            method.reconstruct(mine[i : i + 100].to(device), mask=mine_holes[i : i + 100].to(device))
            .detach()
            .cpu()
            for i in range(0, len(mine), 100)
        ]
        errors = mse(torch.cat(filled), as_float_images(mine), where=1 - mine_holes)
        # the PSNR of the images' mean squared error on their missing pixels, averaged over the set
        # (not the mean of per-image PSNRs: a hole on a flat background is filled exactly, PSNR inf)
        inpaint = -10.0 * math.log10(max(float(hd.gather(errors.double()).nanmean()), 1e-20))
        if folder is not None:
            x = as_float_images(test[:8]).to(device)
            rows = {
                "image": x,
                "function": method.reconstruct(x),
                "rendered 4×": method.reconstruct(x, size=4 * method.image_size),
            }
            save_grid({k: v.detach().cpu() for k, v in rows.items()}, folder.file("reconstructions.png"))
        print(
            f"test PSNR {quality[0].psnr:.2f} ± {quality[0].psnr_ci:.2f} dB "
            f"(SSIM {quality[0].ssim:.3f}); "
            f"after 3 refinement steps {quality[3].psnr:.2f} dB (SSIM {quality[3].ssim:.3f})"
        )
        print(f"inpainting (random holes, PSNR of the mean error on the missing pixels): {inpaint:.2f} dB")
        return {
            "test_images": len(test),
            **{f"psnr_{s}steps": round(q.psnr, 3) for s, q in quality.items()},
            **{f"psnr_{s}steps_ci": round(q.psnr_ci, 3) for s, q in quality.items()},
            **{f"ssim_{s}steps": round(q.ssim, 4) for s, q in quality.items()},
            "inpaint_psnr_missing": round(inpaint, 3),
        }

    return finish


def train_fields(
    method: FieldMethod,
    images: Tensor,
    config: FieldsConfig | None = None,
    *,
    test: Tensor | None = None,
    targets: Tensor | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``method`` on random batches of ``images`` (``[N, C, H, W]``) with :func:`hyperfunc.run.train`.

    Args:
        method: a :class:`FieldMethod` (its parameters are trained in place).
        images: the training images; uint8 images are converted batch by batch.
        config: the settings (:class:`FieldsConfig`: steps, batch size, lr, pixels, mask rate, ...).
        test: test images: evaluated at the end (PSNR / SSIM after 0 and 3 refinement
            steps, inpainting of random holes; ``reconstructions.png`` in ``out``).
        targets: ``[N, C, H', W']``, one per training image (e.g. the same images at a
            higher resolution): the functions generated from ``images`` are scored
            on these instead (super-resolution training).
        out, resume, overwrite, identity: as for :func:`hyperfunc.run.train`.

    Returns:
        The results (``steps_done``, the evaluation with ``test``, settings, ...).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fields import FieldsConfig, ImageHyperNet, train_fields
        >>> model = ImageHyperNet(in_channels=1, image_size=8)
        >>> results = train_fields(model, torch.rand(16, 1, 8, 8),
        ...                        FieldsConfig(steps=3, batch_size=4, progress=False))
        >>> results["steps_done"]
        3
    """
    config = FieldsConfig() if config is None else config
    phases = _phases(method, images, config, targets)
    ident = {
        "images": list(images.shape),
        "targets": None if targets is None else list(targets.shape),
        "spec": repr(method.target.spec),
        **(identity or {}),
    }
    return train_run(
        method,
        phases,
        config,
        out=out,
        resume=resume,
        overwrite=overwrite,
        identity=ident,
        finish=_finish(method, test, config),
    )


class FieldsFamily(Family):
    """Image → function methods: train a generator of coordinate networks on images, then measure it."""

    name = "fields"
    config = FieldsConfig
    default_tasks = "cifar10-images"

    def build(self, request: Request) -> Plan:
        assert isinstance(request.config, FieldsConfig)
        factory = hyperfunc.tasks.get(request.tasks)
        check_kwargs(factory, request.task_args, "--task-arg", f"task {request.tasks!r}", ("root",))
        task_args = dict(request.task_args)
        if request.data is not None and accepts(factory, "root"):
            task_args["root"] = request.data
        images = factory(**task_args)
        if not isinstance(images, ImageSet):
            raise ValueError(
                f"task {request.tasks!r} gives {type(images).__name__}, not an ImageSet; "
                "image → function methods "
                "run on tasks such as 'cifar10-images', 'mnist-images' or 'omniglot-images'"
            )
        check_kwargs(
            request.method_cls,
            request.method_args,
            "--method-arg",
            f"method {request.method!r}",
            ("in_channels", "image_size", "target"),
        )
        target = None  # the method's own default target unless --target names one
        if request.target is not None or request.target_args:
            name = request.target or str(getattr(request.method_cls, "default_target", "siren"))
            target_factory = hyperfunc.targets.get(name)
            check_kwargs(
                target_factory,
                request.target_args,
                "--target-arg",
                f"target {name!r}",
                ("in_features", "out_features"),
            )
            target = stateless(
                target_factory(
                    in_features=request.method_cls.coordinate_features(images.channels),
                    out_features=images.channels,
                    **request.target_args,
                )
            )
        method = request.method_cls(images.channels, images.size, target, **request.method_args)
        return Plan(
            method=method,
            phases=_phases(method, images.train, request.config, None),
            finish=_finish(method, images.test, request.config),
            identity={"images": repr(images), "spec": repr(method.target.spec)},
            summary=f"{request.method} on {images!r}, target {method.target!r}",
        )
