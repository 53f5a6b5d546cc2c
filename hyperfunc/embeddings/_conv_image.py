"""A small convolutional encoder from images to vectors."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["ConvImageEncoder"]


class ConvImageEncoder(nn.Module):
    """Images ``[..., C, H, W]`` → vectors ``[..., dim]`` (conv blocks, pooling or flattening, linear).

    Each block is conv3×3 (stride 2) → GroupNorm → ReLU. By default the last
    feature map is averaged over space (global pooling), so any image size works
    and the vector says *what* is in the image. With ``image_size`` set, the map is
    flattened instead, so the vector also says *where* (what a hypernetwork that
    reconstructs the image needs); the images must then be ``image_size`` square.

    Args:
        in_channels: image channels.
        dim: output size.
        widths: channels of the conv blocks.
        image_size: flatten the last feature map of ``image_size × image_size``
            images instead of pooling it.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> enc = hf.embeddings.ConvImageEncoder(in_channels=3, dim=64)
        >>> enc(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 64])
    """

    def __init__(
        self, in_channels: int, dim: int, widths: Sequence[int] = (32, 64, 128), image_size: int | None = None
    ) -> None:
        super().__init__()
        if min(in_channels, dim) < 1 or not widths:
            raise ValueError("in_channels and dim must be >= 1 and widths non-empty")
        if image_size is not None and image_size < 1:
            raise ValueError(f"image_size must be a positive integer or None, got {image_size}")
        self.in_channels, self.dim, self.image_size = in_channels, dim, image_size
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.GroupNorm(min(8, w), w), nn.ReLU()]
            c = w
        if image_size is None:
            self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.out = nn.Linear(c, dim)
        else:
            side = image_size
            for _ in widths:
                side = (side + 1) // 2  # conv3×3, stride 2, padding 1
            self.features = nn.Sequential(*layers, nn.Flatten())
            self.out = nn.Linear(c * side * side, dim)

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() < 3 or images.shape[-3] != self.in_channels:
            raise ValueError(
                f"ConvImageEncoder expects images [..., {self.in_channels}, H, W], "
                f"got {list(images.shape)}"
            )
        if self.image_size is not None and images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"this ConvImageEncoder was built for {self.image_size}×{self.image_size} images "
                f"(image_size={self.image_size}), got {images.shape[-2]}×{images.shape[-1]}; resize the "
                "images or build the encoder with their size"
            )
        batch = images.shape[:-3]
        h = self.features(images.reshape(-1, *images.shape[-3:]))
        out: Tensor = self.out(h)
        return out.reshape(*batch, self.dim)
