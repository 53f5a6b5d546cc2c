"""Labelled image datasets from local files (downloads only on request).

:func:`load_mnist`, :func:`load_fashion_mnist`, :func:`load_cifar10` and
:func:`load_digits` return an :class:`ImageDataset`; :func:`load_omniglot`
returns Omniglot's characters grouped by class, and :func:`with_rotations` adds
their rotations as new classes. The loaders read the layouts the datasets are
published in (MNIST's idx files, CIFAR-10's python batches, Omniglot's
``images_background``/``images_evaluation`` zips), or hyperfunc's ``.npz`` forms;
:func:`prepare_omniglot` caches Omniglot's zips as one ``.npz``, and :func:`fetch`
downloads a dataset on request, checking each file against a pinned SHA-256.
CIFAR-10's python batches are pickles, read by a restricted unpickler: a
tampered file raises :class:`UnsafePickleError` instead of running code.

Loaders take a ``root`` directory; without one they read the environment
variable ``HYPERFUNC_DATA``. A missing file raises :class:`DataNotFoundError`
listing every place that was searched. Nothing is ever downloaded unless
:func:`fetch` (``hyperfunc data fetch``) is called. :func:`load_digits` needs no files at
all (the data ships inside scikit-learn).
"""

from __future__ import annotations

from hyperfunc.datasets._dataset import ImageDataset
from hyperfunc.datasets._fetch import SOURCES, Download, DownloadError, Source, fetch
from hyperfunc.datasets._loaders import load_cifar10, load_digits, load_fashion_mnist, load_mnist
from hyperfunc.datasets._omniglot import OMNIGLOT_FILE, load_omniglot, prepare_omniglot
from hyperfunc.datasets._root import DATA_ENV, DataNotFoundError, data_root
from hyperfunc.datasets._rotations import with_rotations
from hyperfunc.datasets._safe_pickle import UnsafePickleError

__all__ = [
    "ImageDataset",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "load_digits",
    "load_omniglot",
    "OMNIGLOT_FILE",
    "prepare_omniglot",
    "fetch",
    "SOURCES",
    "Source",
    "Download",
    "DownloadError",
    "with_rotations",
    "UnsafePickleError",
    "DATA_ENV",
    "DataNotFoundError",
    "data_root",
]
