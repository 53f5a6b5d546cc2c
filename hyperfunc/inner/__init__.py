"""The functional inner loop: differentiable optimisers over parameter dicts, and ``adapt``.

Weights are data, so an inner loop (MAML's adaptation to a support set) is a
function from a parameter dict to a parameter dict:

* :class:`SGD` (with momentum, dampening, Nesterov), :class:`MetaSGD` (learned
  per-weight rates), :class:`Adam` (with amsgrad), :class:`AdamW`, :class:`RMSprop`,
  :class:`Adagrad`, :class:`Adadelta`, :class:`Adamax`, :class:`ASGD` and
  :class:`Rprop` (each ``torch.optim``'s update, written without in-place
  operations) are :class:`InnerOptimizer`\\ s: a pair of pure functions
  ``init_state(params)`` and ``step(params, grads, state)``;
* :func:`adapt` runs the loop for one episode, :func:`adapt_batched` for a
  meta-batch of episodes in one vectorised call; both are second order unless
  asked for first order, and raise :class:`SecondOrderError` rather than fall back
  silently.

The same optimisers drive :func:`hyperfunc.higher.innerloop_ctx`, the
``higher``-compatible front end for code written against ``torch.optim``.

Optimisers are registered by name in the ``inner optimisers`` registry:
``sgd``, ``meta-sgd``, ``adam``, ``adamw``, ``rmsprop``, ``adagrad``, ``adadelta``,
``adamax``, ``asgd`` and ``rprop``; ``get(name)`` returns the class, an unknown name lists the
known ones and suggests the closest. Plugins add optimisers through the
entry-point group ``hyperfunc.inner``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hyperfunc._registry import Registry
from hyperfunc.inner._adadelta import Adadelta, AdadeltaState
from hyperfunc.inner._adagrad import Adagrad, AdagradState
from hyperfunc.inner._adam import Adam, AdamState, AdamW
from hyperfunc.inner._adamax import Adamax, AdamaxState
from hyperfunc.inner._adapt import (
    adapt,
    adapt_batched,
    adapt_with_stats,
    check_loop_options,
    check_second_order,
    reptile,
    select_params,
)
from hyperfunc.inner._asgd import ASGD, ASGDState
from hyperfunc.inner._base import InnerOptimizer, SecondOrderError, check_rate, import_state
from hyperfunc.inner._meta_sgd import MetaSGD
from hyperfunc.inner._rmsprop import RMSprop, RMSpropState
from hyperfunc.inner._rprop import Rprop, RpropState
from hyperfunc.inner._sgd import SGD, SGDState

__all__ = [
    "InnerOptimizer", "SGD", "SGDState", "MetaSGD", "Adam", "AdamW", "AdamState", "RMSprop", "RMSpropState",
    "Adagrad", "AdagradState", "Adadelta", "AdadeltaState", "Adamax", "AdamaxState", "ASGD", "ASGDState",
    "Rprop", "RpropState", "import_state",
    "adapt", "adapt_batched", "adapt_with_stats", "reptile", "check_loop_options", "check_second_order",
    "select_params",
    "check_rate",
    "SecondOrderError",
    "registry", "register", "get", "names", "entries",
]

#: The registry of inner-loop optimisers (name → class). The built-ins register
#: through hyperfunc's own entry points (group ``hyperfunc.inner``), exactly as a
#: plugin's optimiser would.
registry: Registry[Callable[..., InnerOptimizer[Any]]] = Registry("inner optimisers", "hyperfunc.inner")
register = registry.register
get = registry.get
names = registry.names
entries = registry.entries
