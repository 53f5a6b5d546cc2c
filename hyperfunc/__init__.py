"""hyperfunc: functional hypernetworks for meta-learning in PyTorch.

Every target network is a stateless function ``target(params, *inputs)``; a
hypernetwork is whatever produces ``params``. See :func:`stateless`,
:mod:`hyperfunc.hypernets`, :mod:`hyperfunc.embeddings` and :func:`compose`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from hyperfunc import (
    continual,
    datasets,
    embeddings,
    fewshot,
    fields,
    hypernets,
    methods,
    run,
    targets,
    tasks,
)
from hyperfunc._compose import call_at, compose, snapshot
from hyperfunc._errors import (
    DuplicateNameError,
    NonFiniteWeightsError,
    PluginLoadError,
    RegistryError,
    SpecMismatchError,
    UnknownNameError,
)
from hyperfunc._init_stats import InitStats
from hyperfunc._progress import progress
from hyperfunc._registry import Registry, RegistryEntry
from hyperfunc._spec import ParamSpec
from hyperfunc._target import LoopFallbackWarning, Target, check_finite, stateless

#: The distribution's name on PyPI (``pip install torch-hyperfunc``); the import name is ``hyperfunc``.
_DISTRIBUTION = "torch-hyperfunc"

try:
    __version__ = version(_DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "__version__",
    # weights as data
    "ParamSpec", "Target", "stateless", "InitStats", "check_finite", "LoopFallbackWarning",
    # composition
    "compose", "snapshot", "call_at",
    # registries
    "Registry", "RegistryEntry", "targets", "embeddings", "hypernets", "tasks", "methods",
    # method families, the run layer and data
    "continual", "fewshot", "fields", "run", "datasets",
    # progress bars (for plugins' long loops)
    "progress",
    # errors
    "SpecMismatchError", "NonFiniteWeightsError", "RegistryError", "UnknownNameError",
    "DuplicateNameError", "PluginLoadError",
]
