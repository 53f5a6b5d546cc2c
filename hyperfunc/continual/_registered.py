"""Task streams registered by name (entry-point group ``hyperfunc.tasks``)."""

from __future__ import annotations

import os

from hyperfunc.continual._streams import TaskStream, permuted_stream, split_stream
from hyperfunc.datasets import load_cifar10, load_digits, load_fashion_mnist, load_mnist

__all__ = [
    "split_mnist",
    "permuted_mnist",
    "split_fashion_mnist",
    "split_cifar10",
    "split_digits",
    "permuted_digits",
]

Root = str | os.PathLike[str] | None


def split_mnist(root: Root = None, flatten: bool = True) -> TaskStream:
    """SplitMNIST: 5 tasks of 2 digits each (0/1, 2/3, …), from local MNIST files."""
    return split_stream(load_mnist(root), 2, flatten=flatten, name="split-mnist")


def permuted_mnist(root: Root = None, flatten: bool = True, num_tasks: int = 10, seed: int = 0) -> TaskStream:
    """PermutedMNIST: one fixed pixel permutation of MNIST per task (10 by default)."""
    return permuted_stream(load_mnist(root), num_tasks, seed, flatten=flatten, name="permuted-mnist")


def split_fashion_mnist(root: Root = None, flatten: bool = True) -> TaskStream:
    """Split Fashion-MNIST: 5 tasks of 2 classes each, from local files."""
    return split_stream(load_fashion_mnist(root), 2, flatten=flatten, name="split-fashion-mnist")


def split_cifar10(root: Root = None, flatten: bool = False) -> TaskStream:
    """Split CIFAR-10: 5 tasks of 2 classes each (images kept as ``[3, 32, 32]``)."""
    return split_stream(load_cifar10(root), 2, flatten=flatten, name="split-cifar10")


def split_digits(root: Root = None, flatten: bool = True) -> TaskStream:
    """Split digits: scikit-learn's bundled 8×8 digits, 5 tasks of 2 (no files needed)."""
    return split_stream(load_digits(), 2, flatten=flatten, name="split-digits")


def permuted_digits(root: Root = None, flatten: bool = True, num_tasks: int = 5, seed: int = 0) -> TaskStream:
    """Permuted digits: scikit-learn's 8×8 digits under a pixel permutation per task."""
    return permuted_stream(load_digits(), num_tasks, seed, flatten=flatten, name="permuted-digits")
