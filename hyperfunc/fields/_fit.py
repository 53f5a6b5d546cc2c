"""Fitting functions to images by gradient descent on their weights, all images in one batched call."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import attrs
import torch
from torch import Tensor

from hyperfunc._progress import progress
from hyperfunc._target import Target
from hyperfunc.fields._coords import check_coords

__all__ = ["fit", "FitResult", "per_image_mse"]


def per_image_mse(
    target: Target,
    params: Mapping[str, Tensor],
    coords: Tensor,
    values: Tensor,
    mask: Tensor | None = None,
) -> Tensor:
    """MSE of each of B functions on its own image: ``[B]``.

    ``coords`` is ``[P, 2]`` (shared) or ``[B, P, 2]``; ``values`` is ``[B, P, C]``;
    ``mask`` (``[B, P]``, 1 = known pixel) restricts each image's error to its known
    pixels (inpainting).
    """
    pred: Tensor = target.batched(params, coords, shared=coords.dim() == 2)
    if pred.shape != values.shape:
        raise ValueError(
            f"the target's output {list(pred.shape)} does not match values {list(values.shape)}; "
            "check the target's out_features against the image channels"
        )
    err: Tensor = (pred - values).pow(2).mean(dim=2)
    if mask is None:
        return err.mean(dim=1)
    if mask.shape != err.shape:
        raise ValueError(
            f"mask must be [B, P] = {list(err.shape)} (one flag per pixel), got {list(mask.shape)}"
        )
    m = mask.to(err.dtype)
    known = m.sum(dim=1)
    if bool((known == 0).any()):
        raise ValueError("mask has an image with no known pixel; every image needs at least one")
    return (err * m).sum(dim=1) / known


@attrs.frozen(eq=False)
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        params: the fitted weights (detached), a leading axis B.
        psnr: ``{step: [B] PSNR in dB}`` at each step of ``record_at`` (on the fitted pixels).
        seconds: wall time of the optimisation (without the recording passes).
    """

    params: dict[str, Tensor]
    psnr: dict[int, Tensor]
    seconds: float


def fit(
    target: Target,
    params: Mapping[str, Tensor],
    coords: Tensor,
    values: Tensor,
    *,
    steps: int,
    lr: float = 2e-4,
    optimizer: str = "adam",
    mask: Tensor | None = None,
    record_at: Sequence[int] = (),
    show_progress: bool = True,
) -> FitResult:
    """Fit B functions, one per image, from the weights ``params`` (COIN's per-image fitting).

    All B weight sets are optimised together: the loss is the *sum* over images of
    each image's mean squared error, so every image's weights get exactly the
    gradient of their own loss, and Adam (elementwise) then takes the same steps as
    B separate optimisers would. This is the COIN baseline (Dupont et al. 2021) when
    ``params`` is a fresh initialisation, and test-time refinement when ``params``
    comes from a hypernetwork.

    Args:
        target: the coordinate network.
        params: the starting weights, a leading axis B (not modified).
        coords: ``[P, 2]`` in [-1, 1] (shared) or ``[B, P, 2]``.
        values: ``[B, P, C]`` pixel values (in [0, 1] for the PSNR to mean anything).
        steps: optimisation steps (full batch: every pixel every step).
        lr: learning rate.
        optimizer: ``"adam"`` or ``"sgd"``.
        mask: ``[B, P]``, fit only the pixels marked 1 (inpainting); the recorded
            PSNR is then on those pixels too.
        record_at: steps after which to measure the PSNR (``0`` = before any step).
        show_progress: show a progress bar.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.siren(2, 1, hidden=(16, 16)))
        >>> coords, values = hf.fields.image_to_coords(torch.rand(3, 1, 8, 8))
        >>> res = hf.fields.fit(target, target.init_params((3,)), coords, values, steps=50,
        ...                     lr=1e-3, record_at=(0, 50), show_progress=False)
        >>> bool((res.psnr[50] > res.psnr[0]).all())
        True
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    bad = [s for s in record_at if not 0 <= s <= steps]
    if bad:
        raise ValueError(f"record_at has steps {bad} outside [0, steps={steps}]")
    check_coords(coords)
    weights = {n: p.detach().clone().requires_grad_(True) for n, p in params.items()}
    with torch.no_grad():
        per_image_mse(target, weights, coords, values, mask)  # shape check before anything runs
    opt: torch.optim.Optimizer = (
        torch.optim.Adam(weights.values(), lr=lr) if optimizer == "adam"
        else torch.optim.SGD(weights.values(), lr=lr)
    )
    wanted, history = set(record_at), {}

    def record(step: int) -> None:
        if step in wanted:
            with torch.no_grad():
                history[step] = -10 * torch.log10(per_image_mse(target, weights, coords, values, mask))

    record(0)
    seconds, bar = 0.0, progress(steps, "fit", enabled=show_progress)
    for i in bar:
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = per_image_mse(target, weights, coords, values, mask)
        loss.sum().backward()  # type: ignore[no-untyped-call]
        opt.step()
        seconds += time.perf_counter() - start
        if i % 100 == 0:
            bar.set_postfix_str(f"mse {float(loss.detach().mean()):.2e}")
        record(i + 1)
    return FitResult({n: w.detach() for n, w in weights.items()}, history, seconds)
