"""PSNR and SSIM against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyperfunc.fields import mse, psnr, ssim

skimage_metrics = pytest.importorskip("skimage.metrics")


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_and_ssim_match_scikit_image(channels: int) -> None:
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(3, channels, 20, 24, generator=g)
    pred = (truth + 0.1 * torch.randn(3, channels, 20, 24, generator=g)).clamp(0, 1)
    ours_p, ours_s = psnr(pred, truth), ssim(pred, truth)
    for i in range(3):
        a, b = pred[i].permute(1, 2, 0).double().numpy(), truth[i].permute(1, 2, 0).double().numpy()
        ref_p = skimage_metrics.peak_signal_noise_ratio(b, a, data_range=1.0)
        ref_s = skimage_metrics.structural_similarity(
            b, a, data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
        assert ours_p[i].item() == pytest.approx(ref_p, abs=1e-4)
        assert ours_s[i].item() == pytest.approx(ref_s, abs=1e-4)


def test_metric_values_and_shapes() -> None:
    x = torch.rand(2, 5, 3, 16, 16)
    assert psnr(x, x).isinf().all() and psnr(x, x).shape == (2, 5)
    assert torch.allclose(ssim(x, x), torch.ones(2, 5))
    assert torch.allclose(mse(x + 0.5, x), torch.full((2, 5), 0.25))
    assert psnr(x * 255 + 10, x * 255, data_range=255.0).allclose(torch.full((2, 5), 20 * np.log10(25.5)))


def test_metric_errors() -> None:
    with pytest.raises(ValueError, match=r"pred has shape \[1, 1, 8, 8\] but target has \[1, 1, 9, 9\]"):
        psnr(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 9, 9))
    with pytest.raises(ValueError, match="at least 11×11"):
        ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="data_range must be positive"):
        psnr(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), data_range=0)
