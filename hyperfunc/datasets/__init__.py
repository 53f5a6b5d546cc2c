"""Labelled image datasets from local files (nothing is downloaded).

Loaders take a ``root`` directory; without one they read the environment
variable ``HYPERFUNC_DATA``. A missing file raises :class:`DataNotFoundError`
listing every place that was searched. :func:`load_digits` needs no files at
all (the data ships inside scikit-learn).
"""

from __future__ import annotations

from hyperfunc.datasets._dataset import ImageDataset
from hyperfunc.datasets._loaders import load_cifar10, load_digits, load_fashion_mnist, load_mnist
from hyperfunc.datasets._root import DATA_ENV, DataNotFoundError, data_root

__all__ = [
    "ImageDataset",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "load_digits",
    "DATA_ENV",
    "DataNotFoundError",
    "data_root",
]
