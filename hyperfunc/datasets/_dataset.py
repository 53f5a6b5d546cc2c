"""A labelled image dataset held in memory as uint8 arrays."""

from __future__ import annotations

import attrs
import numpy as np
import torch
from torch import Tensor

__all__ = ["ImageDataset"]


def _check(inst: ImageDataset, _attr: object, _value: object) -> None:
    problems = []
    for split in ("train", "test"):
        x, y = getattr(inst, f"x_{split}"), getattr(inst, f"y_{split}")
        if len(x) != len(y):
            problems.append(f"x_{split} has {len(x)} images but y_{split} has {len(y)} labels")
    if inst.x_train.shape[1:] != inst.x_test.shape[1:]:
        problems.append(f"train images {inst.x_train.shape[1:]} vs test {inst.x_test.shape[1:]}")
    if problems:
        raise ValueError(f"inconsistent dataset {inst.name!r}: " + "; ".join(problems))


@attrs.frozen(eq=False)
class ImageDataset:
    """Images ``[N, C, H, W]`` (uint8, or float in [0, 1]) with integer labels, train and test.

    Attributes:
        name: a short name (``"mnist"``).
        x_train, y_train, x_test, y_test: the arrays (channels first).
        num_classes: number of labels.
        max_value: the value of a full-intensity pixel (255 for uint8 images,
            16 for scikit-learn's digits); :meth:`float_images` divides by it.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray = attrs.field(validator=_check)
    num_classes: int = 10
    max_value: float = 255.0

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` of one image."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def float_images(self, split: str) -> Tensor:
        """All images of ``split`` (``"train"`` or ``"test"``) as float32 in [0, 1]."""
        x = getattr(self, f"x_{split}")
        return torch.from_numpy(np.asarray(x, dtype=np.float32) / self.max_value)

    def labels(self, split: str) -> Tensor:
        """All labels of ``split`` as int64."""
        return torch.from_numpy(np.asarray(getattr(self, f"y_{split}"), dtype=np.int64))
