"""Image quality: PSNR and SSIM per image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["psnr", "ssim", "mse"]


def _pair(pred: Tensor, target: Tensor, what: str) -> tuple[Tensor, Tensor]:
    if pred.shape != target.shape:
        raise ValueError(
            f"{what}: pred has shape {list(pred.shape)} but target has {list(target.shape)}; "
            "compare images of the same size (render the prediction at the target's resolution)"
        )
    if pred.dim() < 3:
        raise ValueError(f"{what} expects images [..., C, H, W], got shape {list(pred.shape)}")
    return pred.float(), target.float()


def mse(pred: Tensor, target: Tensor, *, where: Tensor | None = None) -> Tensor:
    """Mean squared error per image: ``[..., C, H, W]`` → ``[...]``.

    With ``where`` (``[..., 1, H, W]`` or ``[..., C, H, W]``, 1 = count the pixel)
    the mean is over the chosen pixels only, e.g. ``where=1 - mask`` scores an
    inpainting on its missing pixels.
    """
    pred, target = _pair(pred, target, "mse")
    err = (pred - target).pow(2)
    if where is None:
        return err.mean(dim=(-3, -2, -1))
    try:
        w = where.float().expand_as(err)
    except RuntimeError:
        raise ValueError(
            f"mse: where has shape {list(where.shape)}, which does not broadcast to the images' "
            f"{list(err.shape)}; give one weight per pixel ([..., 1, H, W]) or per value ([..., C, H, W])"
        ) from None
    return (err * w).sum(dim=(-3, -2, -1)) / w.sum(dim=(-3, -2, -1))


def psnr(pred: Tensor, target: Tensor, data_range: float = 1.0, *, where: Tensor | None = None) -> Tensor:
    """Peak signal-to-noise ratio in dB per image, ``10·log10(range² / MSE)``: ``[..., C, H, W]`` → ``[...]``.

    Average the result over images for a dataset's "mean PSNR" (the convention of
    COIN and COIN++). Identical images give ``inf``. ``where`` restricts the MSE to
    some pixels (see :func:`mse`); an image with no pixel chosen gives ``nan``.

    Examples:
        >>> import torch
        >>> from hyperfunc.fields import psnr
        >>> x = torch.zeros(1, 1, 4, 4)
        >>> psnr(x + 0.1, x).round(decimals=2)
        tensor([20.])
        >>> y = x.clone(); y[..., :2, :] = 0.5             # only the top half is wrong
        >>> bottom = torch.zeros(1, 1, 4, 4); bottom[..., 2:, :] = 1
        >>> psnr(y, x, where=bottom)
        tensor([inf])
    """
    if data_range <= 0:
        raise ValueError(f"data_range must be positive (1.0 for images in [0, 1]), got {data_range}")
    err = mse(pred, target, where=where)
    return 10 * torch.log10(data_range**2 / err)


def _gaussian_window(size: int, sigma: float, device: torch.device) -> Tensor:
    r = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def ssim(
    pred: Tensor, target: Tensor, data_range: float = 1.0, *, window: int = 11, sigma: float = 1.5
) -> Tensor:
    """Structural similarity (Wang et al. 2004) per image: ``[..., C, H, W]`` → ``[...]``.

    Gaussian window (``window`` × ``window``, std ``sigma``), constants ``K1 = 0.01``,
    ``K2 = 0.03``; the SSIM map is averaged over the positions where the window lies
    inside the image and over the channels. This equals scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=data_range)``.
    """
    if data_range <= 0:
        raise ValueError(f"data_range must be positive (1.0 for images in [0, 1]), got {data_range}")
    pred, target = _pair(pred, target, "ssim")
    *lead, c, h, w = pred.shape
    if min(h, w) < window:
        raise ValueError(f"ssim needs images of at least {window}×{window} (the window), got {h}×{w}")
    k = _gaussian_window(window, sigma, pred.device).expand(c, 1, window, window)
    x, y = pred.reshape(-1, c, h, w), target.reshape(-1, c, h, w)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, k, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(-3, -2, -1)).reshape(lead)

