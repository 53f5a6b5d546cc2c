"""A PointNet-style, permutation-invariant encoder of point sets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hyperfunc_pointclouds._checks import check_positive, is_int

__all__ = ["PointNetEncoder"]


class PointNetEncoder(nn.Module):
    """PointNet-style set encoder: a shared per-point MLP, max-pooling over points, a linear head.

    Every point goes through the same MLP ``in_features → widths…`` (``nn.Linear``
    layers on the last axis, each followed by a ReLU; the per-point "1×1
    convolutions" of Qi et al. 2017), the features are max-pooled over the points,
    and a linear layer maps the pooled vector to ``dim`` outputs. The maximum does
    not depend on the order of the points, so the encoding is permutation
    invariant, and it accepts sets of any size ``N >= 1``.

    Unlike the original PointNet it has no batch normalisation and no input or
    feature transform networks: each set is encoded independently of the others
    in its batch, which is what a hypernetwork conditioned on one object needs.
    The hidden layers use He (Kaiming) initialisation, so the encoding has a
    useful scale for inputs of roughly unit size.

    Args:
        dim: size of the encoding (the hypernetwork's ``in_features``).
        widths: widths of the shared per-point layers (at least one).
        in_features: coordinates per point (3 for ``x, y, z``; more for points
            with normals or colours).

    Shapes:
        input ``[..., N, in_features]``; output ``[..., dim]``.

    Examples:
        >>> import torch
        >>> from hyperfunc_pointclouds import PointNetEncoder
        >>> enc = PointNetEncoder(dim=32)
        >>> x = torch.randn(4, 500, 3)
        >>> z = enc(x)
        >>> z.shape
        torch.Size([4, 32])
        >>> torch.allclose(enc(x[:, torch.randperm(500)]), z)  # order does not matter
        True
    """

    def __init__(
        self, dim: int, widths: Sequence[int] = (64, 128, 256), *, in_features: int = 3
    ) -> None:
        super().__init__()
        check_positive("PointNetEncoder", dim=dim, in_features=in_features)
        try:
            sizes = tuple(widths)
        except TypeError:
            raise ValueError(
                f"PointNetEncoder: widths must be a sequence of layer widths such as "
                f"(64, 128, 256), got {widths!r}"
            ) from None
        bad = [f"widths[{i}]={w!r}" for i, w in enumerate(sizes) if not is_int(w) or int(w) < 1]
        if not sizes or bad:
            raise ValueError(
                f"PointNetEncoder: widths must be a non-empty sequence of positive ints, got "
                f"{widths!r}" + (f" ({', '.join(bad)})" if bad else "")
            )
        self.dim, self.in_features = int(dim), int(in_features)
        self.widths = tuple(int(w) for w in sizes)
        layers: list[nn.Module] = []
        for a, b in zip((self.in_features, *self.widths[:-1]), self.widths, strict=True):
            linear = nn.Linear(a, b)
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.ReLU()]
        self.point_mlp = nn.Sequential(*layers)
        self.head = nn.Linear(self.widths[-1], self.dim)

    def forward(self, points: Tensor) -> Tensor:
        """Encode point sets ``[..., N, in_features]`` into vectors ``[..., dim]``."""
        if (
            not isinstance(points, Tensor)
            or points.dim() < 2
            or points.shape[-1] != self.in_features
            or points.shape[-2] == 0
        ):
            got = list(points.shape) if isinstance(points, Tensor) else type(points).__name__
            raise ValueError(
                f"PointNetEncoder expects point sets of shape [..., N, {self.in_features}] with "
                f"N >= 1, got {got}; build it with in_features matching the points' last axis"
            )
        if not points.is_floating_point():
            raise TypeError(
                f"PointNetEncoder expects floating-point points, got {points.dtype}; use "
                "points.float()"
            )
        features = self.point_mlp(points)  # [..., N, widths[-1]]
        pooled = torch.amax(features, dim=-2)
        out: Tensor = self.head(pooled)
        return out

    def extra_repr(self) -> str:
        """The constructor arguments, shown in ``repr(encoder)``."""
        return f"dim={self.dim}, widths={self.widths}, in_features={self.in_features}"
