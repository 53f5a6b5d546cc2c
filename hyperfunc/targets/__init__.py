"""Target networks, and the ``targets`` registry (entry-point group ``hyperfunc.targets``).

A registered target is a factory returning an ``nn.Module``; make it stateless
with :func:`hyperfunc.stateless`::

    net = hyperfunc.targets.get("conv4")(in_channels=1, num_classes=5)
    target = hyperfunc.stateless(net)
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hyperfunc._registry import Registry
from hyperfunc.targets._builtin import ACTIVATIONS, Sine, conv4, mlp, siren
from hyperfunc.targets._fourier import FourierFeatures, fourier_mlp

__all__ = [
    "registry", "register", "get", "names", "entries",
    "mlp", "conv4", "siren", "Sine", "ACTIVATIONS", "fourier_mlp", "FourierFeatures",
]

#: The registry of target factories.
registry: Registry[Callable[..., nn.Module]] = Registry("targets", "hyperfunc.targets")
register = registry.register
get = registry.get
names = registry.names
entries = registry.entries
