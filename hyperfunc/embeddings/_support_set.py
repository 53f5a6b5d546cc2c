"""A permutation-invariant, label-aware encoder of a labelled support set."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hyperfunc.hypernets._base import trunk

__all__ = ["SupportSetEncoder"]


class SupportSetEncoder(nn.Module):
    """Encodes a support set ``{(x_i, y_i)}`` into one vector (a Deep Sets encoder).

    Each example is embedded with its one-hot label, ``φ([x_i, onehot(y_i)])``; the
    embeddings are averaged per class and over the set, and ``ρ`` maps the pooled
    vector to the output. Reordering the examples leaves the output unchanged;
    changing a label changes it.

    Args:
        in_features: size of each (already embedded) example ``x_i``.
        num_classes: number of labels (N of N-way).
        dim: output size.
        hidden: widths of ``φ``'s hidden layers (``ρ`` has one hidden layer of the
            last width).

    Shapes:
        ``x``: ``[..., S, in_features]``; ``y``: ``[..., S]`` integer labels;
        output: ``[..., dim]``.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> enc = hf.embeddings.SupportSetEncoder(in_features=16, num_classes=5, dim=32)
        >>> x, y = torch.randn(4, 25, 16), torch.arange(5).repeat(5).expand(4, 25)
        >>> enc(x, y).shape
        torch.Size([4, 32])
    """

    def __init__(
        self, in_features: int, num_classes: int, dim: int, hidden: Sequence[int] = (128,)
    ) -> None:
        super().__init__()
        if min(in_features, num_classes, dim) < 1 or not hidden:
            raise ValueError("in_features, num_classes and dim must be >= 1, hidden non-empty")
        self.in_features, self.num_classes, self.dim = in_features, num_classes, dim
        width = hidden[-1]
        self.phi = trunk(in_features + num_classes, hidden)
        self.rho = nn.Sequential(
            nn.Linear(width * (num_classes + 1), width), nn.ReLU(), nn.Linear(width, dim)
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[-1] != self.in_features or tuple(y.shape) != tuple(x.shape[:-1]):
            raise ValueError(
                f"SupportSetEncoder expects x [..., S, {self.in_features}] and labels y [..., S], "
                f"got x {list(x.shape)} and y {list(y.shape)}"
            )
        if y.is_floating_point():
            raise TypeError(f"labels must be integers, got {y.dtype}")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(
                f"labels must be in 0..{self.num_classes - 1}, got range "
                f"{int(y.min())}..{int(y.max())}"
            )
        onehot = nn.functional.one_hot(y.long(), self.num_classes).to(x.dtype)
        h = self.phi(torch.cat([x, onehot], dim=-1))  # [..., S, W]
        counts = onehot.sum(-2).clamp_min(1.0)  # [..., C]
        per_class = (onehot.transpose(-1, -2) @ h) / counts.unsqueeze(-1)  # [..., C, W]
        pooled = torch.cat([h.mean(-2), per_class.flatten(-2)], dim=-1)
        out: Tensor = self.rho(pooled)
        return out
