"""A meta-learned initialisation (Tancik et al. 2021): a few gradient steps from a learned SIREN init."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from hyperfunc._param_dict import dotted, parameter_dict
from hyperfunc._target import Target
from hyperfunc.fields._coords import image_to_coords
from hyperfunc.fields._method import FieldMethod
from hyperfunc.inner import SGD, adapt_batched, check_rate

__all__ = ["MetaInit"]


class MetaInit(FieldMethod):
    """The meta-learned initialisation baseline: ``inner_steps`` of SGD per image from learned weights.

    The initial weights :attr:`theta` are meta-trained (MAML, second order unless
    ``first_order``) so that a few steps of SGD on an image's pixels fit it well
    (Tancik et al. 2021, "Learned initializations for optimizing coordinate-based
    neural representations"). Every image of a batch is adapted in one batched call
    (:func:`hyperfunc.inner.adapt_batched`).

    Args:
        in_channels: image channels.
        image_size: side of the square images.
        target: the coordinate network (default ``siren(2, in_channels, hidden=(32, 32, 32))``).
        inner_steps: SGD steps per image.
        inner_lr: their learning rate.
        first_order: drop the second-order terms of the meta-gradient.

    Attributes:
        theta: the meta-learned initial weights, an ``nn.ParameterDict`` (``"."`` in the
            names written as ``"/"``).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> model = hf.fields.MetaInit(in_channels=1, image_size=8, inner_steps=2)
        >>> loss, logs = model.loss(hf.fields.ImageBatch(torch.rand(3, 1, 8, 8)))
        >>> loss.backward()                                      # a meta-gradient for theta
        >>> model.theta["0/weight"].grad.shape
        torch.Size([32, 2])
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        target: Target | None = None,
        *,
        inner_steps: int = 3,
        inner_lr: float = 1e-2,
        first_order: bool = False,
    ) -> None:
        super().__init__(target, in_channels, image_size)
        if not isinstance(inner_steps, int) or inner_steps < 0:
            raise ValueError(f"inner_steps must be an int >= 0, got {inner_steps!r}")
        check_rate(inner_lr, "inner_lr")
        self.inner_steps, self.inner_lr, self.first_order = inner_steps, float(inner_lr), bool(first_order)
        #: The learned initial weights (keys: the target's names with ``/`` for ``.``).
        self.theta = parameter_dict(self.target.init_params(), clone=False)

    def init_weights(self) -> dict[str, Tensor]:
        """The learned initialisation under the target's parameter names."""
        return dotted(self.theta)

    def weights(self, images: Tensor) -> dict[str, Tensor]:
        """Each image's weights after ``inner_steps`` SGD steps on all its pixels."""
        x = self.check_images(images)
        coords, values = image_to_coords(x)
        b = x.shape[0]
        init = self.init_weights()
        if self.inner_steps == 0:
            return {n: p.expand(b, *p.shape) for n, p in init.items()}
        outer = torch.is_grad_enabled()
        with torch.enable_grad():  # the inner loop needs gradients, also when evaluating
            return adapt_batched(
                self.target, init, F.mse_loss, coords.expand(b, *coords.shape), values,
                optimizer=SGD(lr=self.inner_lr), steps=self.inner_steps,
                first_order=self.first_order or not outer,
            )
