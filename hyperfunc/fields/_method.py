"""What every image → function method shares: a target, a ``weights(images)`` map, loss and rendering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import attrs
import torch
from torch import Tensor, nn

from hyperfunc._target import Target, stateless
from hyperfunc.fields._coords import guide_inputs, image_to_coords, stack_images, take_pixels
from hyperfunc.fields._fit import fit, per_image_mse
from hyperfunc.fields._masks import as_mask, mean_filled
from hyperfunc.fields._render import render
from hyperfunc.targets._builtin import siren

__all__ = ["FieldMethod", "ImageBatch", "as_float_images"]


def as_float_images(images: Tensor) -> Tensor:
    """uint8 images → float32 in [0, 1]; float images pass through unchanged."""
    return images.float() / 255.0 if images.dtype == torch.uint8 else images


@attrs.frozen(eq=False)
class ImageBatch:
    """A training batch of an image → function method.

    Attributes:
        images: ``[B, C, H, W]`` (uint8 or float in [0, 1]).
        mask: ``[B, 1, H, W]`` or ``[B, H, W]``, 1 = known pixel (inpainting training), or ``None``.
        targets: ``[B, C, H', W']`` to score the functions on instead of the images
            (super-resolution training), or ``None``.
        pixels: ``[B, n]`` indices (row-major over the scored images' pixels) of the pixels
            each image is scored on, or ``None`` for all.

    Examples:
        >>> import torch
        >>> from hyperfunc.fields import ImageBatch
        >>> ImageBatch(torch.rand(2, 3, 8, 8)).to("cpu").images.shape
        torch.Size([2, 3, 8, 8])
    """

    images: Tensor
    mask: Tensor | None = None
    targets: Tensor | None = None
    pixels: Tensor | None = None

    def to(self, device: torch.device | str) -> ImageBatch:
        """The same batch on ``device``."""

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return ImageBatch(self.images.to(device), move(self.mask), move(self.targets), move(self.pixels))


class FieldMethod(nn.Module):
    """Base class of the methods that turn images into functions (coordinate networks).

    A subclass implements :meth:`weights` (images ``[B, C, H, W]`` → B weight sets
    for :attr:`target`); the loss, reconstruction, super-resolution (rendering at
    another size) and inpainting come from here.

    Args:
        target: the coordinate network ``(y, x) ↦ C values``; ``None`` builds
            ``siren(coordinate_features(in_channels), in_channels, hidden=default_hidden)``.
        in_channels: image channels C.
        image_size: side of the (square) training images.

    Attributes:
        target: the coordinate network, a stateless :class:`~hyperfunc.Target`.
    """

    family: ClassVar[str] = "fields"
    #: Hidden widths of the SIREN built when no target is given.
    default_hidden: ClassVar[tuple[int, ...]] = (32, 32, 32)
    #: The target ``hyperfunc run`` builds when ``--target`` is not given.
    default_target: ClassVar[str] = "siren"

    def __init__(self, target: Target | None, in_channels: int, image_size: int) -> None:
        super().__init__()
        if target is None:
            features = self.coordinate_features(in_channels)
            target = stateless(siren(features, in_channels, hidden=self.default_hidden))
        if not isinstance(target, Target):
            raise TypeError(
                f"target must be a hyperfunc Target, got {type(target).__name__}; wrap the module with "
                "hyperfunc.stateless(module)"
            )
        if in_channels < 1 or image_size < 1:
            raise ValueError(f"in_channels and image_size must be >= 1, got {in_channels} and {image_size}")
        self.target, self.in_channels, self.image_size = target, in_channels, image_size

    def check_shape(self, shape: Sequence[int]) -> None:
        """Raise unless ``shape`` is ``[B, C, H, W]`` with this method's channels and size."""
        want = (self.in_channels, self.image_size, self.image_size)
        if len(shape) != 4 or tuple(shape[1:]) != want:
            raise ValueError(
                f"{type(self).__name__} expects images [B, {want[0]}, {want[1]}, {want[2]}], got "
                f"{list(shape)}; resize them, or build the method with in_channels / image_size matching"
            )

    def check_images(self, images: Tensor) -> Tensor:
        """``[B, C, H, W]`` float images of this method's channels and size (uint8 converted), or raise."""
        x = stack_images(images)
        self.check_shape(x.shape)
        return as_float_images(x)

    def _check_targets(self, targets: Tensor, images: Tensor) -> Tensor:
        t = as_float_images(stack_images(targets)).to(images.dtype)
        if t.shape[:2] != images.shape[:2]:
            raise ValueError(
                f"targets must be [B, C, H', W'] = [{images.shape[0]}, {images.shape[1]}, H', W'] "
                f"(one per image, the images' channels, any size), got {list(targets.shape)}"
            )
        return t

    def weights(self, images: Tensor) -> dict[str, Tensor]:
        """B weight sets for :attr:`target`, one per image (a leading axis B)."""
        raise NotImplementedError

    @classmethod
    def coordinate_features(cls, in_channels: int) -> int:
        """The inputs of this method's target: 2 (``y, x``); a guided method adds its guide's channels."""
        return 2

    def guide(self, images: Tensor, mask: Tensor | None) -> Tensor | None:
        """The estimate a guided method's functions correct (``None``: the functions are plain).

        A guided method (:class:`~hyperfunc.fields.GuidedHyperNet`) returns
        ``[B, C + 1, H, W]``: estimated images and a last channel of where their
        pixels are known (1) or estimated (0). Its functions then read
        ``(y, x, g(y, x))``, with ``g`` the guide interpolated bicubically, and add
        their output to the estimate's channels of ``g(y, x)``.
        """
        return None

    def _inputs(self, guide: Tensor | None, coords: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """The target's inputs at ``coords`` and the values its output should take there."""
        if guide is None:
            return coords, values
        inputs, base = guide_inputs(guide, coords)
        return inputs, values - base

    def weights_from_known(self, images: Tensor, mask: Tensor | None) -> dict[str, Tensor]:
        """The weights generated from the known pixels (``mask``: ``[B, 1, H, W]``, 1 = known).

        By default the generator sees the unknown pixels as the mean of the known
        ones; a method that fits each image (:class:`~hyperfunc.fields.Functa`) fits
        the known pixels only.
        """
        return self.weights(images if mask is None else mean_filled(images, mask))

    def _generated(self, x: Tensor, m: Tensor | None) -> tuple[dict[str, Tensor], Tensor | None]:
        """The weights generated from the known pixels and the guide their functions correct.

        A guided method overrides this to compute its guide once for both.
        """
        return self.weights_from_known(x, m), self.guide(x, m)

    def loss(self, batch: ImageBatch) -> tuple[Tensor, dict[str, float]]:
        """Mean squared error of the functions generated from ``batch.images`` (and numbers to log).

        The logs are the loss (``mse``) and the mean of the images' PSNRs (``psnr``).

        With ``batch.mask`` (1 = known pixel) the functions are generated from the
        images with their missing pixels replaced by the mean of the known ones (as
        in :meth:`refined`) and scored on every pixel: the loss that trains a
        generator to inpaint. With ``batch.targets`` (any size) they are scored on
        the targets' pixels instead: with high-resolution targets of low-resolution
        images, the loss that trains a generator for super-resolution (both on
        [-1, 1]², pixel centres as in :func:`~hyperfunc.fields.grid`). With
        ``batch.pixels`` only those pixels of each image are scored.
        """
        if not isinstance(batch, ImageBatch):
            raise TypeError(
                f"{type(self).__name__}.loss takes an ImageBatch, got {type(batch).__name__}; "
                "wrap the images: ImageBatch(images)"
            )
        x = self.check_images(batch.images)
        m = None if batch.mask is None else as_mask(batch.mask, x)
        known, guide = self._generated(x, m)
        truth = x if batch.targets is None else self._check_targets(batch.targets, x)
        coords, values = image_to_coords(truth)
        if batch.pixels is not None:
            coords, values = take_pixels(coords, values, batch.pixels)
        per_image = per_image_mse(self.target, known, *self._inputs(guide, coords, values))
        mse = per_image.mean()
        # the mean of per-image PSNRs (COIN's convention), a mean over the batch like the loss
        psnr = float((-10.0 * torch.log10(per_image.detach().clamp_min(1e-12))).mean())
        return mse, {"mse": float(mse.detach()), "psnr": psnr}

    def refined(
        self, images: Tensor, steps: int, lr: float, *, mask: Tensor | None = None, optimizer: str = "adam"
    ) -> dict[str, Tensor]:
        """The generated weights after ``steps`` gradient steps on each image's (known) pixels.

        An image whose error on its known pixels is not lower after the steps keeps
        its generated weights: refinement never makes a fit worse.

        Args:
            images: ``[B, C, H, W]``.
            steps: refinement steps (0 = the generated weights).
            lr: their learning rate.
            mask: ``[B, 1, H, W]`` or ``[B, H, W]``, 1 = known pixel: the generator sees
                the unknown pixels as the mean of the known ones, and the refinement
                fits the known pixels only.
            optimizer: ``"adam"`` or ``"sgd"``.
        """
        x = self.check_images(images)
        return self._refined(x, None if mask is None else as_mask(mask, x), steps, lr, optimizer)[0]

    def _refined(
        self, x: Tensor, m: Tensor | None, steps: int, lr: float, optimizer: str = "adam"
    ) -> tuple[dict[str, Tensor], Tensor | None]:
        """:meth:`refined` on checked images and mask, and the guide of the functions."""
        with torch.no_grad():
            generated, guide = self._generated(x, m)
            params = {n: p.detach() for n, p in generated.items()}
        if steps == 0:
            return params, guide
        coords, values = self._inputs(guide, *image_to_coords(x))
        flat_mask = None if m is None else m.reshape(x.shape[0], -1)
        with torch.enable_grad():
            after = fit(
                self.target,
                params,
                coords,
                values,
                steps=steps,
                lr=lr,
                optimizer=optimizer,
                mask=flat_mask,
                show_progress=False,
            ).params
        # never worse than the generated weights: an image whose fit of its known pixels got
        # worse (Adam's first steps are about ±lr per weight, whatever the gradient) keeps them
        with torch.no_grad():
            before_err = per_image_mse(self.target, params, coords, values, flat_mask)
            after_err = per_image_mse(self.target, after, coords, values, flat_mask)
            better = after_err <= before_err
            kept = {
                n: torch.where(better.view(-1, *[1] * (p.dim() - 1)), after[n].detach(), p)
                for n, p in params.items()
            }
        return kept, guide

    def reconstruct(
        self,
        images: Tensor,
        size: int | None = None,
        *,
        refine_steps: int = 0,
        refine_lr: float = 1e-3,
        mask: Tensor | None = None,
        chunk: int | None = None,
    ) -> Tensor:
        """Generate a function per image and render it at ``size × size`` (default: the image's size).

        A larger ``size`` is super-resolution; with ``mask`` the masked pixels are
        unseen by the generator and the refinement, and rendered from the function
        (inpainting). Returns ``[B, C, size, size]``, clamped to [0, 1].
        """
        x = self.check_images(images)
        params, guide = self._refined(x, None if mask is None else as_mask(mask, x), refine_steps, refine_lr)
        side = self.image_size if size is None else size
        return render(self.target, params, side, chunk=chunk, guide=guide).clamp(0.0, 1.0)
