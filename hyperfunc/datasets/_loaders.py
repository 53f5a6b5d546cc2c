"""Loaders for MNIST, Fashion-MNIST, CIFAR-10 (local files) and scikit-learn's digits."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from hyperfunc.datasets._dataset import ImageDataset
from hyperfunc.datasets._npz import read_npz
from hyperfunc.datasets._root import DATA_ENV, DataNotFoundError, data_root, find_first
from hyperfunc.datasets._safe_pickle import safe_unpickle

__all__ = ["load_mnist", "load_fashion_mnist", "load_cifar10", "load_digits"]

PathLike = str | os.PathLike[str] | None

_IDX = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_dir(directory: Path) -> dict[str, np.ndarray] | None:
    out = {}
    for key, stem in _IDX.items():
        for name in (stem, f"{stem}.gz"):
            if (directory / name).exists():
                out[key] = _read_idx(directory / name)
                break
        else:
            return None
    return out


def _mnist_like(name: str, root: PathLike, npz_names: list[str], idx_dirs: list[str]) -> ImageDataset:
    base = data_root(root, name)
    arrays: dict[str, np.ndarray] | None = None
    for npz in npz_names:
        if (base / npz).is_file():
            arrays = read_npz(base / npz, ("x_train", "y_train", "x_test", "y_test"))
            break
    else:
        for directory in idx_dirs:
            if (base / directory).is_dir():
                arrays = _idx_dir(base / directory)
                if arrays is not None:
                    break
    if arrays is None:
        looked = [str(base / n) for n in npz_names]
        looked += [f"{base / d}/{{{','.join(_IDX.values())}}}[.gz]" for d in idx_dirs]
        raise DataNotFoundError(
            f"can't find {name} under {str(base)!r}. Looked for:\n  "
            + "\n  ".join(looked)
            + f"\nPut the files there, pass another root, or set {DATA_ENV}."
        )
    return ImageDataset(
        name,
        arrays["x_train"][:, None],
        arrays["y_train"].astype(np.int64),
        arrays["x_test"][:, None],
        arrays["y_test"].astype(np.int64),
    )


def load_mnist(root: PathLike = None) -> ImageDataset:
    """MNIST from ``root`` (default ``$HYPERFUNC_DATA``).

    Accepts ``mnist.npz`` (keys ``x_train, y_train, x_test, y_test``, as Keras and
    hyperfunc's shared data use), or the four idx files (optionally gzipped) in
    ``root``, ``root/mnist`` or ``root/MNIST/raw`` (torchvision's layout).
    """
    return _mnist_like("mnist", root, ["mnist.npz"], ["MNIST/raw", "mnist", "."])


def load_fashion_mnist(root: PathLike = None) -> ImageDataset:
    """Fashion-MNIST from ``root`` (default ``$HYPERFUNC_DATA``).

    Accepts ``fashion_mnist.npz`` or the four idx files in ``root/fashion-mnist``,
    ``root/fashion_mnist`` or ``root/FashionMNIST/raw`` (torchvision's layout).
    """
    return _mnist_like(
        "fashion-mnist",
        root,
        ["fashion_mnist.npz", "fashion-mnist.npz"],
        ["FashionMNIST/raw", "fashion-mnist", "fashion_mnist"],
    )


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array {list(value.shape)}"
    if isinstance(value, list):
        return f"list of length {len(value)}"
    return type(value).__name__


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` and int64 labels ``[N]`` from one python-version batch file."""
    d = safe_unpickle(path, encoding="bytes")
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        got = f"keys {sorted(map(repr, d))}" if isinstance(d, dict) else _describe(d)
        raise ValueError(
            f"{str(path)!r} is not a CIFAR-10 batch: expected a dict with keys b'data' and b'labels', "
            f"got {got}"
        )
    data, labels = d[b"data"], d[b"labels"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3 * 32 * 32
        or not isinstance(labels, (list, np.ndarray))
        or len(labels) != len(data)
    ):
        raise ValueError(
            f"{str(path)!r} is not a CIFAR-10 batch: expected b'data' uint8 [N, 3072] and b'labels' "
            f"N ints, got b'data' {_describe(data)} and b'labels' {_describe(labels)}"
        )
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar10(root: PathLike = None) -> ImageDataset:
    """CIFAR-10 from ``root`` (default ``$HYPERFUNC_DATA``).

    Accepts the pair ``cifar10_train5k.npz`` / ``cifar10_test2k.npz`` (hyperfunc's
    shared subset), ``cifar10.npz`` (keys ``x_train, y_train, x_test, y_test``,
    images ``[N, 32, 32, 3]``), or the official python version
    ``cifar-10-batches-py/``. Its files are pickles, read by a restricted
    unpickler that accepts only what a CIFAR-10 batch holds (containers, bytes,
    numbers, numpy arrays), so a tampered file cannot run code.

    Raises:
        DataNotFoundError: none of these files is there (the message lists the paths).
        UnsafePickleError: a batch file asks for any other Python global (it is refused,
            not run).
        ValueError: a batch file is truncated, corrupted, or not a CIFAR-10 batch.
    """
    base = data_root(root, "cifar10")
    found = find_first(base, ["cifar10.npz", "cifar10_train5k.npz", "cifar-10-batches-py"], "cifar10")
    if found.name == "cifar-10-batches-py":
        train = [_cifar_batch(found / f"data_batch_{i}") for i in range(1, 6)]
        x_test, y_test = _cifar_batch(found / "test_batch")
        return ImageDataset(
            "cifar10",
            np.concatenate([x for x, _ in train]),
            np.concatenate([y for _, y in train]),
            x_test,
            y_test,
        )
    if found.name == "cifar10.npz":
        arrays = read_npz(found, ("x_train", "y_train", "x_test", "y_test"))
    else:
        test = find_first(base, ["cifar10_test2k.npz"], "cifar10 (test part)")
        arrays = {**read_npz(found, ("x_train", "y_train")), **read_npz(test, ("x_test", "y_test"))}
    return ImageDataset(
        "cifar10",
        arrays["x_train"].transpose(0, 3, 1, 2),
        arrays["y_train"].astype(np.int64),
        arrays["x_test"].transpose(0, 3, 1, 2),
        arrays["y_test"].astype(np.int64),
    )


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's bundled handwritten digits (1,797 images of 8×8; UCI optdigits test set).

    Needs no files: the data ships inside scikit-learn (``pip install torch-hyperfunc[digits]``).
    Split into train and test with a fixed, stratified shuffle.
    """
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError as exc:
        raise ImportError(
            "the digits dataset ships with scikit-learn, which is not installed; "
            "install it with: pip install 'torch-hyperfunc[digits]'"
        ) from exc
    d = sk_digits()
    x = np.asarray(d.images, dtype=np.uint8)[:, None]  # values 0..16
    y = np.asarray(d.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test_idx.append(rng.permutation(idx)[: round(test_fraction * len(idx))])
    test = np.zeros(len(y), dtype=bool)
    test[np.concatenate(test_idx)] = True
    return ImageDataset("digits", x[~test], y[~test], x[test], y[test], max_value=16.0)
