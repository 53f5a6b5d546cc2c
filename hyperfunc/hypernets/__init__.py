"""Hypernetworks: ``nn.Module``\\ s mapping conditioning vectors to parameter dicts.

Every family is registered in the ``hypernets`` registry (entry-point group
``hyperfunc.hypernets``) under the name in brackets:

* :class:`MLPHyperNet` (``mlp``) — one output layer for every weight;
* :class:`Chunked` (``chunked``) — chunk embeddings, can be smaller than the target;
* :class:`PerTensor` (``per-tensor``) — a shared trunk and a head per tensor;
* :class:`LowRank` (``low-rank``) — each matrix as a rank-r product;
* :class:`Additive` (``additive``) — base weights plus a generated update (HyperMAML);
* :class:`Mask` (``mask``) — base weights times a semi-binary mask (HyperMask);
* :class:`Modulation` (``modulation``) — shared MLP weights whose hidden layers a
  latent shifts (and scales) through a linear map (COIN++, functa).
"""

from __future__ import annotations

from collections.abc import Callable

from hyperfunc._registry import Registry
from hyperfunc.hypernets._additive import Additive
from hyperfunc.hypernets._base import HyperNetwork
from hyperfunc.hypernets._chunked import Chunked
from hyperfunc.hypernets._low_rank import LowRank
from hyperfunc.hypernets._mask import Mask
from hyperfunc.hypernets._mlp import MLPHyperNet
from hyperfunc.hypernets._modulation import Modulation
from hyperfunc.hypernets._per_tensor import PerTensor

__all__ = [
    "HyperNetwork", "MLPHyperNet", "Chunked", "PerTensor", "LowRank", "Additive", "Mask", "Modulation",
    "registry", "register", "get", "names", "entries",
]

#: The registry of hypernetwork classes.
registry: Registry[Callable[..., HyperNetwork]] = Registry("hypernets", "hyperfunc.hypernets")
register = registry.register
get = registry.get
names = registry.names
entries = registry.entries
