"""CIFAR ResNets (He et al. 2016, §4.2) as hyperfunc target networks.

Installing this package adds the targets ``resnet20``, ``resnet32`` and ``resnet56``
to :mod:`hyperfunc.targets` through the ``hyperfunc.targets`` entry-point group::

    import hyperfunc as hf

    net = hf.targets.get("resnet20")(num_classes=10)
    target = hf.stateless(net)

The network is the paper's CIFAR-10 architecture: a 3×3 convolution with ``width``
channels, three stages of ``n`` basic blocks with ``width``, ``2·width`` and
``4·width`` channels (the first block of stages 2 and 3 has stride 2), global
average pooling and a linear classifier; depth ``6n + 2``. Shortcuts are the
paper's option A: identity, with stride-2 subsampling and zero-padded channels
where the shape changes, so they have no parameters.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "NORMS",
    "BasicBlock",
    "CifarResNet",
    "PadShortcut",
    "resnet20",
    "resnet32",
    "resnet56",
]

__version__ = "0.1.0"

#: Normalisation layers accepted by the ``norm`` argument.
NORMS: tuple[str, ...] = ("batch", "group", "none")


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(
            f"unknown norm {norm!r}; choose one of {', '.join(repr(n) for n in NORMS)}"
        )


def _positive(**kw: int) -> None:
    for k, v in kw.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{k} must be a positive integer, got {v!r}")


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "group":
        # up to 8 groups, always a divisor of the channel count
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    return nn.Identity()


def _conv3x3(in_channels: int, out_channels: int, stride: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)


class PadShortcut(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and zero-pad the new channels (no weights).

    Uses only tensor slicing and :func:`torch.nn.functional.pad` on the channel
    axis (``-3``), so it works under ``torch.func.functional_call`` and ``vmap``
    and on unbatched ``[C, H, W]`` inputs.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"an option-A shortcut can only add channels, got {in_channels} -> {out_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[..., :: self.stride, :: self.stride]
        extra = self.out_channels - self.in_channels
        if extra:
            x = F.pad(x, (0, 0, 0, 0, 0, extra))  # (W, H, C): append zero channels
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with normalisation and ReLU, plus a parameter-free shortcut."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, norm: str = "batch"
    ) -> None:
        super().__init__()
        _check_norm(norm)
        bias = norm == "none"
        self.conv1 = _conv3x3(in_channels, out_channels, stride, bias)
        self.norm1 = _norm_layer(norm, out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels, 1, bias)
        self.norm2 = _norm_layer(norm, out_channels)
        self.shortcut: nn.Module = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else PadShortcut(in_channels, out_channels, stride)
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """The CIFAR ResNet of He et al. (2016, §4.2), depth ``6n + 2``.

    Args:
        depth: total number of weighted layers, ``6n + 2`` (20, 32, 44, 56, 110, ...).
        num_classes: outputs of the final linear layer; 0 omits it, and the
            network returns the pooled ``4·width`` features.
        in_channels: image channels.
        width: channels of the first stage (16 in the paper); stages 2 and 3 have
            twice and four times as many.
        norm: ``"batch"`` (the paper), ``"group"`` (GroupNorm with up to 8 groups) or
            ``"none"`` (convolutions get biases instead).
    """

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        in_channels: int = 3,
        width: int = 16,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        _check_norm(norm)
        _positive(depth=depth, in_channels=in_channels, width=width)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative integer, got {num_classes!r}")
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 32, 56, ...), got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = _conv3x3(in_channels, width, 1, norm == "none")
        self.norm1 = _norm_layer(norm, width)
        stages: list[nn.Sequential] = []
        c_in = width
        for i, c_out in enumerate((width, 2 * width, 4 * width)):
            blocks = [
                BasicBlock(c_in if j == 0 else c_out, c_out, 2 if (i > 0 and j == 0) else 1, norm)
                for j in range(n)
            ]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stage1, self.stage2, self.stage3 = stages
        self.fc: nn.Module = nn.Linear(4 * width, num_classes) if num_classes else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He et al. 2015: N(0, 2 / (k² · c_in))
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = F.relu(self.norm1(self.conv1(x)))
        out = self.stage3(self.stage2(self.stage1(out)))
        out = out.mean(dim=(-2, -1))  # global average pooling
        logits: Tensor = self.fc(out)
        return logits


def resnet20(
    num_classes: int = 10, in_channels: int = 3, width: int = 16, norm: str = "batch"
) -> nn.Module:
    """ResNet-20 for CIFAR (He et al. 2016, §4.2): 3 stages × 3 basic blocks, 0.27M weights.

    Args:
        num_classes: outputs of the classifier (0 returns the pooled features).
        in_channels: image channels.
        width: channels of the first stage (16 in the paper).
        norm: one of :data:`NORMS`: ``"batch"``, ``"group"`` or ``"none"``.
    """
    return CifarResNet(20, num_classes, in_channels, width, norm)


def resnet32(
    num_classes: int = 10, in_channels: int = 3, width: int = 16, norm: str = "batch"
) -> nn.Module:
    """ResNet-32 for CIFAR (He et al. 2016, §4.2): 3 stages × 5 basic blocks, 0.46M weights.

    Args:
        num_classes: outputs of the classifier (0 returns the pooled features).
        in_channels: image channels.
        width: channels of the first stage (16 in the paper).
        norm: one of :data:`NORMS`: ``"batch"``, ``"group"`` or ``"none"``.
    """
    return CifarResNet(32, num_classes, in_channels, width, norm)


def resnet56(
    num_classes: int = 10, in_channels: int = 3, width: int = 16, norm: str = "batch"
) -> nn.Module:
    """ResNet-56 for CIFAR (He et al. 2016, §4.2): 3 stages × 9 basic blocks, 0.85M weights.

    Args:
        num_classes: outputs of the classifier (0 returns the pooled features).
        in_channels: image channels.
        width: channels of the first stage (16 in the paper).
        norm: one of :data:`NORMS`: ``"batch"``, ``"group"`` or ``"none"``.
    """
    return CifarResNet(56, num_classes, in_channels, width, norm)
