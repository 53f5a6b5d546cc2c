"""Continuous representations: images as functions of their coordinates.

An image becomes a coordinate network ``(y, x) ↦ pixel`` (an implicit neural
representation) whose weights are data, so a batch of images is a batch of
weight sets evaluated in one call:

* :func:`grid`, :func:`image_to_coords`, :func:`coords_to_image`,
  :func:`sample_pixels`: images ↔ (coordinate, value) sets on [-1, 1]²;
  :func:`sample_image`: images interpolated at any coordinates;
* :func:`render`: a batch of functions on a grid of any resolution, in chunks;
* :func:`fit`: per-image fitting of B functions at once (COIN), or refinement;
* :class:`ImageHyperNet`: image → encoder → hypernetwork → SIREN weights, one
  forward pass (Klocek et al. 2019); :class:`MetaInit`: a few SGD steps from a
  meta-learned initialisation (Tancik et al. 2021); :class:`Functa`: a latent per
  image, fitted by a few meta-learned steps, modulating a shared SIREN (COIN++,
  functa; Dupont et al. 2022); :class:`GuidedHyperNet`: generated functions
  that correct bicubic upsampling or a :func:`normalized_convolution` fill;
  :class:`PerImageFit`: COIN's
  per-image fitting; all :class:`FieldMethod`\\ s with ``reconstruct`` for
  super-resolution and inpainting (``hyperfunc run --method image-hypernet
  --tasks cifar10-images``);
* :func:`random_masks`: random holes for inpainting training
  (``train_fields(..., mask_rate=...)``);
* :func:`train_fields`, :func:`evaluate_fields`, :func:`psnr`, :func:`ssim`,
  :func:`save_grid` (PNG grids).
"""

from __future__ import annotations

from hyperfunc.fields._coords import (
    check_coords,
    coords_to_image,
    grid,
    image_to_coords,
    sample_image,
    sample_pixels,
    stack_images,
    take_pixels,
)
from hyperfunc.fields._family import FieldsConfig, FieldsFamily, Quality, evaluate_fields, train_fields
from hyperfunc.fields._fit import FitResult, fit, per_image_mse
from hyperfunc.fields._functa import Functa
from hyperfunc.fields._guided import GuidedHyperNet
from hyperfunc.fields._image_hypernet import ImageHyperNet
from hyperfunc.fields._masks import normalized_convolution, random_masks
from hyperfunc.fields._meta_init import MetaInit
from hyperfunc.fields._method import FieldMethod, ImageBatch, as_float_images
from hyperfunc.fields._metrics import mse, psnr, ssim
from hyperfunc.fields._per_image import PerImageFit
from hyperfunc.fields._plot import save_grid
from hyperfunc.fields._registered import ImageSet, cifar10_images, mnist_images, omniglot_images
from hyperfunc.fields._render import CACHE_BYTES, DEFAULT_MEMORY_LIMIT, bytes_per_point, render

__all__ = [
    # coordinates
    "grid", "image_to_coords", "coords_to_image", "sample_pixels", "take_pixels", "check_coords",
    "stack_images", "sample_image",
    # rendering and fitting
    "render", "bytes_per_point", "DEFAULT_MEMORY_LIMIT", "CACHE_BYTES", "fit", "FitResult", "per_image_mse",
    # methods
    "FieldMethod", "ImageBatch", "ImageHyperNet", "GuidedHyperNet", "MetaInit", "Functa", "PerImageFit",
    "as_float_images", "random_masks", "normalized_convolution",
    # image sets
    "ImageSet", "cifar10_images", "mnist_images", "omniglot_images",
    # training and quality
    "FieldsConfig", "FieldsFamily", "train_fields", "evaluate_fields", "Quality", "psnr", "ssim", "mse",
    "save_grid",
]
