"""Meta-learned latent modulations (COIN++ / functa, Dupont et al. 2022)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from hyperfunc._target import Target
from hyperfunc.fields._coords import image_to_coords
from hyperfunc.fields._fit import per_image_mse
from hyperfunc.fields._masks import as_mask
from hyperfunc.fields._method import FieldMethod
from hyperfunc.hypernets._modulation import Modulation, linear_layers
from hyperfunc.inner import MetaSGD, check_rate

__all__ = ["Functa"]


class Functa(FieldMethod):
    """Each image is a latent vector: a few meta-learned gradient steps fit it, a shared SIREN renders it.

    COIN++ (Dupont et al. 2022, "COIN++: neural compression across modalities") and
    "From data to functa": one SIREN (:attr:`~hyperfunc.fields.FieldMethod.target`) is
    shared by all images;
    an image is the latent ``z`` whose :class:`~hyperfunc.hypernets.Modulation`
    (a linear map to shifts, optionally scales, of every hidden layer) makes the
    SIREN draw it. ``z`` starts at zero and takes ``inner_steps`` steps of
    Meta-SGD on the image's pixels, with one learned rate per latent coordinate
    (:attr:`rates`); the outer loop trains the shared weights, the map and the
    rates through those steps (second order unless ``first_order``), as CAVIA does.
    The shared network's output bias starts 0.5 higher, at mid-grey (COIN++ adds 0.5).

    Every image of a batch is fitted in one batched call, and the fitted weights
    are an ordinary weight dict of :attr:`~hyperfunc.fields.FieldMethod.target`, so
    reconstruction, refinement,
    super-resolution and inpainting (fit ``z`` on the known pixels) come from
    :class:`FieldMethod`. :meth:`latents` returns the fitted latents themselves:
    the "functa" a downstream model can learn from.

    Args:
        in_channels: image channels.
        image_size: side of the square images.
        target: the shared network (default ``siren(2, in_channels, hidden=default_hidden)``).
        latent_dim: the latent size (COIN++ uses 64 to 1024 on CIFAR-10).
        inner_steps: latent steps per image (COIN++: 3); may be changed after training
            (more steps fit better).
        inner_lr: the rates' initial value.
        scale: scale modulations as well as shifts.
        first_order: drop the second-order terms of the meta-gradient.

    Attributes:
        modulation: the :class:`~hyperfunc.hypernets.Modulation` holding the shared
            weights and the latent-to-modulation map.
        rates: the Meta-SGD rates, one per latent coordinate (used clamped at 0).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> model = hf.fields.Functa(in_channels=3, image_size=8, latent_dim=16, inner_steps=2)
        >>> images = torch.rand(4, 3, 8, 8)
        >>> loss, logs = model.loss(hf.fields.ImageBatch(images))
        >>> loss.backward()                              # shared weights, map and rates learn
        >>> model.rates.grad.shape, model.latents(images).shape
        (torch.Size([16]), torch.Size([4, 16]))
    """

    #: Hidden widths of the SIREN built when no target is given.
    default_hidden: ClassVar[tuple[int, ...]] = (128, 128, 128, 128, 128)

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        target: Target | None = None,
        *,
        latent_dim: int = 128,
        inner_steps: int = 3,
        inner_lr: float = 1e-2,
        scale: bool = False,
        first_order: bool = False,
    ) -> None:
        super().__init__(target, in_channels, image_size)
        problems = []
        if not isinstance(latent_dim, int) or latent_dim < 1:
            problems.append(f"latent_dim must be an int >= 1, got {latent_dim!r}")
        if not isinstance(inner_steps, int) or inner_steps < 0:
            problems.append(f"inner_steps must be an int >= 0, got {inner_steps!r}")
        if problems:
            raise ValueError("; ".join(problems))
        check_rate(inner_lr, "inner_lr")
        self.latent_dim, self.inner_steps, self.first_order = latent_dim, inner_steps, bool(first_order)
        self.modulation = Modulation(self.target, latent_dim, scale=scale)
        with torch.no_grad():  # the output starts at mid-grey, the middle of [0, 1] (COIN++ adds 0.5)
            _, out_bias = linear_layers(self.modulation.spec)[-1]
            self.modulation.base_params()[out_bias].add_(0.5)
        self.rates = nn.Parameter(torch.full((latent_dim,), float(inner_lr)))

    def latents(self, images: Tensor, *, mask: Tensor | None = None, steps: int | None = None) -> Tensor:
        """Each image's fitted latent ``[B, latent_dim]``: ``steps`` (default ``inner_steps``) steps from 0.

        With ``mask`` (``[B, 1, H, W]`` or ``[B, H, W]``, 1 = known pixel) only the known
        pixels are fitted (inpainting).
        """
        x = self.check_images(images)
        coords, values = image_to_coords(x)
        z = torch.zeros(x.shape[0], self.latent_dim, dtype=x.dtype, device=x.device)
        outer = torch.is_grad_enabled()
        second_order = outer and not self.first_order
        flat_mask = None if mask is None else as_mask(mask, x).reshape(x.shape[0], -1)
        optimizer = MetaSGD({"z": self.rates.clamp(min=0.0)})  # a negative rate would climb the error
        with torch.enable_grad():  # the inner loop needs gradients, also when evaluating
            for _ in range(self.inner_steps if steps is None else steps):
                z_in = z if second_order and z.requires_grad else z.detach().requires_grad_(True)
                err = per_image_mse(self.target, self.modulation(z_in), coords, values, flat_mask)
                # each image's latent gets the gradient of its own error (images do not interact)
                (grad,) = torch.autograd.grad(err.sum(), z_in, create_graph=second_order)
                z = optimizer.step({"z": z_in}, {"z": grad}, None)[0]["z"]
        return z if outer else z.detach()

    def encode(self, images: Tensor, *, steps: int | None = None, chunk: int = 256) -> Tensor:
        """The fitted latents ``[N, latent_dim]`` of any number of images, ``chunk`` at a time, no graph.

        The functa of a dataset: what a downstream model learns from
        (``docs/examples/functa_classifier.py`` classifies CIFAR-10 from them).
        """
        x = self.check_images(images) if len(images) else images
        out = []
        for i in range(0, len(x), chunk):
            with torch.no_grad():
                out.append(self.latents(x[i : i + chunk], steps=steps))
        return torch.cat(out) if out else torch.zeros(0, self.latent_dim)

    def weights(self, images: Tensor) -> dict[str, Tensor]:
        """Each image's SIREN weights: the shared ones modulated by its fitted latent."""
        params: dict[str, Tensor] = self.modulation(self.latents(images))
        return params

    def weights_from_known(self, images: Tensor, mask: Tensor | None) -> dict[str, Tensor]:
        """The weights of latents fitted to the known pixels only."""
        params: dict[str, Tensor] = self.modulation(self.latents(images, mask=mask))
        return params
