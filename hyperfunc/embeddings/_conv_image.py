"""A small convolutional encoder from images to vectors."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["ConvImageEncoder"]


class ConvImageEncoder(nn.Module):
    """Images ``[..., C, H, W]`` → vectors ``[..., dim]`` (conv blocks, global pooling, linear).

    Each block is conv3×3 (stride 2) → GroupNorm → ReLU, so any image size works.

    Args:
        in_channels: image channels.
        dim: output size.
        widths: channels of the conv blocks.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> enc = hf.embeddings.ConvImageEncoder(in_channels=3, dim=64)
        >>> enc(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 64])
    """

    def __init__(self, in_channels: int, dim: int, widths: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        if min(in_channels, dim) < 1 or not widths:
            raise ValueError("in_channels and dim must be >= 1 and widths non-empty")
        self.in_channels, self.dim = in_channels, dim
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.GroupNorm(min(8, w), w), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out = nn.Linear(c, dim)

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() < 3 or images.shape[-3] != self.in_channels:
            raise ValueError(
                f"ConvImageEncoder expects images [..., {self.in_channels}, H, W], "
                f"got {list(images.shape)}"
            )
        batch = images.shape[:-3]
        h = self.features(images.reshape(-1, *images.shape[-3:]))
        out: Tensor = self.out(h)
        return out.reshape(*batch, self.dim)
