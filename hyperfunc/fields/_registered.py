"""Registered image sets for image → function methods (``hyperfunc.tasks``: ``*-images``)."""

from __future__ import annotations

import os

import attrs
import numpy as np
import torch
from torch import Tensor

from hyperfunc.datasets import load_cifar10, load_mnist, load_omniglot

__all__ = ["ImageSet", "cifar10_images", "mnist_images", "omniglot_images"]

PathLike = str | os.PathLike[str] | None


def _images(inst: ImageSet, _attr: object, value: Tensor) -> None:
    if value.dim() != 4 or value.shape[-1] != value.shape[-2] or len(value) == 0:
        raise ValueError(
            f"ImageSet {inst.name!r}: images must be non-empty [N, C, S, S], got {list(value.shape)}"
        )
    if value.shape[1:] != inst.train.shape[1:]:
        raise ValueError(
            f"ImageSet {inst.name!r}: train images {list(inst.train.shape[1:])} but test images "
            f"{list(value.shape[1:])}"
        )


@attrs.frozen(eq=False)
class ImageSet:
    """Square images for learning image → function maps: uint8 ``[N, C, S, S]``, train and test.

    Attributes:
        name: a short name.
        train: training images.
        test: test images.
    """

    name: str
    train: Tensor
    test: Tensor = attrs.field(validator=_images)

    @property
    def channels(self) -> int:
        """Image channels C."""
        return int(self.train.shape[1])

    @property
    def size(self) -> int:
        """Image side S."""
        return int(self.train.shape[-1])

    def __repr__(self) -> str:
        return (f"ImageSet({self.name!r}, train={len(self.train)}, test={len(self.test)}, "
                f"{self.channels}×{self.size}×{self.size})")


def _limit(x: np.ndarray, n: int | None) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(x if n is None else x[:n]))


def cifar10_images(root: PathLike = None, test_images: int | None = 2000) -> ImageSet:
    """CIFAR-10 (RGB 32×32) as an :class:`ImageSet` (see :func:`hyperfunc.datasets.load_cifar10`)."""
    d = load_cifar10(root)
    return ImageSet("cifar10", _limit(d.x_train, None), _limit(d.x_test, test_images))


def mnist_images(root: PathLike = None, test_images: int | None = 2000) -> ImageSet:
    """MNIST (grey 28×28) as an :class:`ImageSet`; the first ``test_images`` test images."""
    d = load_mnist(root)
    return ImageSet("mnist", _limit(d.x_train, None), _limit(d.x_test, test_images))


def omniglot_images(root: PathLike = None, test_images: int | None = 659) -> ImageSet:
    """Omniglot 28×28 (ink = 255): all background-split drawings for training, the first drawer
    of each evaluation-split character (unseen alphabets) for testing."""
    train = load_omniglot(root, "background", dtype=torch.uint8).reshape(-1, 1, 28, 28)
    test = load_omniglot(root, "evaluation", dtype=torch.uint8)[:, 0]
    return ImageSet("omniglot", train, test if test_images is None else test[:test_images])
