"""Image → function in one forward pass: a conv encoder and a hypernetwork that emits SIREN weights."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from hyperfunc._target import Target
from hyperfunc.embeddings._conv_image import ConvImageEncoder
from hyperfunc.fields._method import FieldMethod
from hyperfunc.hypernets._additive import Additive
from hyperfunc.hypernets._base import HyperNetwork
from hyperfunc.hypernets._mlp import MLPHyperNet

__all__ = ["ImageHyperNet"]


class ImageHyperNet(FieldMethod):
    """Klocek et al. (2019) / SIREN's hypernetwork experiment: image → encoder → hypernetwork → weights.

    The encoder is a :class:`~hyperfunc.embeddings.ConvImageEncoder` that flattens its
    last feature map (it must know *where* things are); the hypernetwork adds an
    image-dependent update to learned shared weights (or, with ``hypernet="mlp"``,
    generates every weight, starting at the target's own initial statistics). All
    B functions of a batch are evaluated in one batched call.

    Args:
        in_channels: image channels (1 grey, 3 RGB).
        image_size: side of the square training images.
        target: the coordinate network (default: ``siren(2, in_channels, hidden=(32, 32, 32))``).
        embedding_dim: size of the image code.
        encoder_widths: channels of the encoder's stride-2 conv blocks.
        hidden: hidden widths of the hypernetwork.
        hypernet: ``"additive"`` (default): learned shared SIREN weights plus a
            generated, image-dependent update that starts at zero
            (:class:`~hyperfunc.hypernets.Additive`; SIREN's own hypernetwork starts
            near a shared initialisation the same way), or ``"mlp"``: every weight
            generated from scratch (:class:`~hyperfunc.hypernets.MLPHyperNet`),
            which trains far more slowly through the sine layers.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> model = hf.fields.ImageHyperNet(in_channels=3, image_size=16, embedding_dim=32, hidden=(64,))
        >>> images = torch.rand(4, 3, 16, 16)
        >>> model.weights(images)["0.weight"].shape       # four SIRENs, first layer 2 → 32
        torch.Size([4, 32, 2])
        >>> model.reconstruct(images, size=40).shape      # rendered at 40 × 40
        torch.Size([4, 3, 40, 40])
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
    ) -> None:
        super().__init__(target, in_channels, image_size)
        if hypernet not in ("additive", "mlp"):
            raise ValueError(f"hypernet must be 'additive' or 'mlp', got {hypernet!r}")
        self.encoder = ConvImageEncoder(in_channels, embedding_dim, encoder_widths, image_size=image_size)
        self.hypernet: HyperNetwork = (
            Additive(self.target, embedding_dim, hidden) if hypernet == "additive"
            else MLPHyperNet(self.target, embedding_dim, hidden)
        )

    def weights(self, images: Tensor) -> dict[str, Tensor]:
        """B SIREN weight sets, one per image of ``[B, C, H, W]``."""
        x = self.check_images(images)
        out: dict[str, Tensor] = self.hypernet(self.encoder(x))
        return out
