"""Functions that correct a classical estimate: bicubic upsampling, or a normalized-convolution fill."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hyperfunc._target import Target
from hyperfunc.embeddings._conv_image import ConvImageEncoder
from hyperfunc.fields._image_hypernet import ImageHyperNet
from hyperfunc.fields._masks import as_mask, normalized_convolution
from hyperfunc.hypernets._additive import Additive
from hyperfunc.hypernets._modulation import linear_layers

__all__ = ["GuidedHyperNet"]


class GuidedHyperNet(ImageHyperNet):
    """An :class:`ImageHyperNet` whose functions correct a classical estimate of the image.

    The guide ``g`` is the image itself, its missing pixels (with a mask) filled by
    :func:`~hyperfunc.fields.normalized_convolution`, plus the mask as a last
    channel (all ones without one), interpolated bicubically at any coordinate.
    Each generated function reads ``(y, x, g(y, x))`` and its output is added to
    the estimate there: rendered at a higher resolution it corrects bicubic
    upsampling, rendered over a hole it corrects the classical fill, knowing from
    the mask channel which pixels were seen. This is the skip connection of
    super-resolution networks (VDSR; LIIF's local input) in a hypernetwork's
    terms, and the function can still be queried at any resolution.

    The encoder sees the guide (the estimate and the mask). With the additive
    hypernetwork (default) the output layer's shared weights start at zero, so an
    untrained model renders the estimate exactly: training on pairs
    (``train_fields(..., targets=...)``) or with holes (``mask_rate``) teaches it
    only what the classical method gets wrong. Trained on plain images it has
    nothing to learn (the guide already matches every pixel).

    Args:
        in_channels: image channels C.
        image_size: side of the square input images.
        target: the coordinate network, ``3 + C`` inputs (``y, x``, the estimate's
            C channels and the mask) to C outputs (default
            ``siren(3 + C, C, hidden=(32, 32, 32))``).
        embedding_dim, encoder_widths, hidden, hypernet: as for :class:`ImageHyperNet`
            (the encoder reads ``C + 1`` channels).
        sigma: the Gaussian of the normalized-convolution fill, in pixels.

    Examples:
        >>> import torch, torch.nn.functional as F, hyperfunc as hf
        >>> model = hf.fields.GuidedHyperNet(in_channels=1, image_size=28, embedding_dim=32, hidden=(64,))
        >>> x = torch.rand(4, 1, 28, 28)
        >>> up = model.reconstruct(x, size=105)         # untrained: exactly bicubic
        >>> torch.allclose(up, F.interpolate(x, size=105, mode="bicubic").clamp(0, 1), atol=1e-5)
        True
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        target: Target | None = None,
        *,
        embedding_dim: int = 256,
        encoder_widths: Sequence[int] = (32, 64, 128),
        hidden: Sequence[int] = (256,),
        hypernet: str = "additive",
        sigma: float = 1.0,
    ) -> None:
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        super().__init__(in_channels, image_size, target, embedding_dim=embedding_dim,
                         encoder_widths=encoder_widths, hidden=hidden, hypernet=hypernet)
        self.sigma = float(sigma)
        self.encoder = ConvImageEncoder(in_channels + 1, embedding_dim, encoder_widths, image_size=image_size)
        features = self.coordinate_features(in_channels)
        probe = self.target.init_params((1,))
        try:
            dtype = next(iter(probe.values())).dtype
            self.target.batched(probe, torch.zeros(1, 1, features, dtype=dtype), shared=False)
        except RuntimeError as e:
            raise ValueError(
                f"GuidedHyperNet's target must take {features} inputs (y, x, the estimate's {in_channels} "
                f"channels and the mask), but it fails on them ({e}); build it with in_features={features}"
            ) from None
        if isinstance(self.hypernet, Additive):  # start at the guide: the shared output layer is zero
            with torch.no_grad():
                for name in linear_layers(self.hypernet.spec)[-1]:
                    self.hypernet.base_params()[name].zero_()

    @classmethod
    def coordinate_features(cls, in_channels: int) -> int:
        """``3 + in_channels``: the coordinates, the estimate's channels and the mask there."""
        return 3 + in_channels

    def guide(self, images: Tensor, mask: Tensor | None) -> Tensor:
        """``[B, C + 1, H, W]``: the images, missing pixels filled by normalized convolution, and the mask."""
        if mask is None:
            return torch.cat([images, torch.ones_like(images[:, :1])], dim=1)
        return torch.cat([normalized_convolution(images, mask, self.sigma), mask], dim=1)

    def weights(self, images: Tensor) -> dict[str, Tensor]:
        """B weight sets, generated from the guide of whole images ``[B, C, H, W]``."""
        return self.weights_from_known(images, None)

    def weights_from_known(self, images: Tensor, mask: Tensor | None) -> dict[str, Tensor]:
        """The weights generated from the guide (the classical fill of the known pixels and the mask)."""
        x = self.check_images(images)
        return self._generated(x, None if mask is None else as_mask(mask, x))[0]

    def _generated(self, x: Tensor, m: Tensor | None) -> tuple[dict[str, Tensor], Tensor]:
        guide = self.guide(x, m)  # once, for the weights and for the functions' inputs
        out: dict[str, Tensor] = self.hypernet(self.encoder(guide))
        return out, guide
