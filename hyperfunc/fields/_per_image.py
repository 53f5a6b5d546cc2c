"""The per-image fitting baseline (COIN) as a :class:`FieldMethod`: no training, a fit per image."""

from __future__ import annotations

import torch
from torch import Tensor

from hyperfunc._target import Target
from hyperfunc.fields._coords import image_to_coords
from hyperfunc.fields._fit import fit
from hyperfunc.fields._method import FieldMethod

__all__ = ["PerImageFit"]


class PerImageFit(FieldMethod):
    """COIN (Dupont et al. 2021): each image's function fitted from scratch by ``steps`` of Adam.

    There is nothing to train: :meth:`weights` fits a fresh initialisation (seeded
    by ``seed``) to every image of the batch, all in one batched call
    (:func:`~hyperfunc.fields.fit`). It plugs into the same evaluation, rendering and
    super-resolution code as the learned methods.

    Args:
        in_channels: image channels.
        image_size: side of the square images.
        target: the coordinate network (default: COIN's 453-weight SIREN
            ``siren(2, in_channels, hidden=(18, 18))``).
        steps: Adam steps per image.
        lr: Adam's learning rate (COIN: 2e-4).
        seed: seed of the initial weights.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> coin = hf.fields.PerImageFit(in_channels=3, image_size=8, steps=20, lr=1e-3)
        >>> coin.reconstruct(torch.rand(2, 3, 8, 8), size=16).shape
        torch.Size([2, 3, 16, 16])
    """

    default_hidden = (18, 18)

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        target: Target | None = None,
        *,
        steps: int = 1000,
        lr: float = 2e-4,
        seed: int = 0,
    ) -> None:
        super().__init__(target, in_channels, image_size)
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        self.steps, self.lr, self.seed = steps, float(lr), seed

    def weights(self, images: Tensor) -> dict[str, Tensor]:
        """Each image's weights after :attr:`steps` Adam steps from a seeded initialisation."""
        x = self.check_images(images)
        start = self.target.init_params((x.shape[0],), generator=torch.Generator().manual_seed(self.seed))
        start = {n: p.to(x.device) for n, p in start.items()}
        with torch.enable_grad():
            return fit(self.target, start, *image_to_coords(x), steps=self.steps, lr=self.lr,
                       show_progress=False).params
