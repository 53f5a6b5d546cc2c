"""Fourier-feature MLP (Tancik et al. 2020): random Fourier features of the coordinates, then an MLP."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hyperfunc.targets._builtin import mlp

__all__ = ["FourierFeatures", "fourier_mlp"]


class FourierFeatures(nn.Module):
    """``x ↦ [cos(2π x Bᵀ), sin(2π x Bᵀ)]`` with a fixed Gaussian matrix ``B ~ N(0, scale²)``.

    ``B`` (``[num_frequencies, in_features]``) is a buffer, not a parameter: a
    hypernetwork generates only the MLP after it, and every generated function
    shares the same features. It is drawn from its own generator seeded with
    ``seed``, so two modules built with the same arguments are identical.

    Args:
        in_features: coordinate dimension.
        num_frequencies: rows of ``B``; the output has ``2 * num_frequencies`` features.
        scale: standard deviation of ``B`` (higher = finer detail, and more aliasing).
        seed: seed of ``B``.
    """

    def __init__(
        self, in_features: int, num_frequencies: int = 64, scale: float = 10.0, seed: int = 0
    ) -> None:
        super().__init__()
        if in_features < 1 or num_frequencies < 1:
            raise ValueError(
                f"in_features and num_frequencies must be >= 1, got {in_features} and {num_frequencies}"
            )
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.in_features, self.num_frequencies, self.scale = in_features, num_frequencies, float(scale)
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("B", torch.randn(num_frequencies, in_features, generator=g) * scale)

    def forward(self, x: Tensor) -> Tensor:
        freqs = self.get_buffer("B")
        proj = 2 * math.pi * x @ freqs.t()
        return torch.cat([torch.cos(proj), torch.sin(proj)], dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_frequencies={self.num_frequencies}, scale={self.scale}"


def fourier_mlp(
    in_features: int = 2,
    out_features: int = 3,
    hidden: Sequence[int] = (256, 256, 256),
    num_frequencies: int = 64,
    scale: float = 10.0,
    activation: str = "relu",
    seed: int = 0,
) -> nn.Sequential:
    """A coordinate network: :class:`FourierFeatures` then an :func:`~hyperfunc.targets.mlp`.

    Args:
        in_features: coordinate dimension (2 for images).
        out_features: value dimension (3 for RGB).
        hidden: widths of the MLP's hidden layers.
        num_frequencies: Fourier features (the MLP's input is twice this).
        scale: standard deviation of the frequencies (Tancik et al. use 10 for images
            with coordinates in [0, 1]; on [-1, 1] about half of that gives the same
            frequencies).
        activation: the MLP's activation (see :data:`~hyperfunc.targets.ACTIVATIONS`).
        seed: seed of the fixed frequency matrix.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> net = hf.targets.fourier_mlp(2, 3, hidden=(32,), num_frequencies=16)
        >>> target = hf.stateless(net)
        >>> target(target.init_params(), torch.rand(5, 2)).shape
        torch.Size([5, 3])
    """
    return nn.Sequential(
        FourierFeatures(in_features, num_frequencies, scale, seed),
        mlp(2 * num_frequencies, out_features, hidden, activation),
    )
