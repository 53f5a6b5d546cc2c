"""Embeddings that produce conditioning vectors, and the ``embeddings`` registry.

Registered names (entry-point group ``hyperfunc.embeddings``): ``task-table``
(:class:`TaskTable`), ``support-set`` (:class:`SupportSetEncoder`) and
``conv-image`` (:class:`ConvImageEncoder`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hyperfunc._registry import Registry
from hyperfunc.embeddings._conv_image import ConvImageEncoder
from hyperfunc.embeddings._support_set import SupportSetEncoder
from hyperfunc.embeddings._task_table import TaskTable

__all__ = [
    "TaskTable", "SupportSetEncoder", "ConvImageEncoder",
    "registry", "register", "get", "names", "entries",
]

#: The registry of embedding classes.
registry: Registry[Callable[..., nn.Module]] = Registry("embeddings", "hyperfunc.embeddings")
register = registry.register
get = registry.get
names = registry.names
entries = registry.entries
