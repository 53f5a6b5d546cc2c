"""Continual learning: task streams, HNET, HyperMask, fine-tuning and online EWC.

Methods are registered in :mod:`hyperfunc.methods` (``hnet``, ``hypermask``,
``finetune``, ``ewc``) and task streams in :mod:`hyperfunc.tasks`
(``split-mnist``, ``permuted-mnist``, ``split-fashion-mnist``, ``split-cifar10``,
``split-digits``, ``permuted-digits``).
"""

from __future__ import annotations

from hyperfunc.continual._baselines import FineTune, OnlineEWC
from hyperfunc.continual._family import ContinualConfig, ContinualFamily, continual_phases, run_continual
from hyperfunc.continual._hnet import HNET, HyperMask
from hyperfunc.continual._method import ContinualMethod, TaskBatch
from hyperfunc.continual._metrics import AccuracyMatrix
from hyperfunc.continual._plot import plot_matrix
from hyperfunc.continual._registered import (
    permuted_digits,
    permuted_mnist,
    split_cifar10,
    split_digits,
    split_fashion_mnist,
    split_mnist,
)
from hyperfunc.continual._streams import Task, TaskStream, permuted_stream, split_stream

__all__ = [
    "Task",
    "TaskStream",
    "split_stream",
    "permuted_stream",
    "split_mnist",
    "permuted_mnist",
    "split_fashion_mnist",
    "split_cifar10",
    "split_digits",
    "permuted_digits",
    "ContinualMethod",
    "TaskBatch",
    "HNET",
    "HyperMask",
    "FineTune",
    "OnlineEWC",
    "AccuracyMatrix",
    "plot_matrix",
    "ContinualConfig",
    "ContinualFamily",
    "continual_phases",
    "run_continual",
]
