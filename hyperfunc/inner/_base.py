"""The interface of an inner-loop optimiser, and the error for impossible second-order requests."""

from __future__ import annotations

import abc
import math
from collections.abc import Iterator, Mapping
from typing import ClassVar, Generic, TypeVar

import torch
from torch import Tensor

__all__ = ["InnerOptimizer", "SecondOrderError", "Grads", "check_rate", "safe_sqrt", "import_state"]

S = TypeVar("S")

#: Gradients by parameter name; a name that is missing or maps to ``None`` is not updated.
Grads = Mapping[str, Tensor | None]


class SecondOrderError(RuntimeError):
    """Second-order adaptation was asked for through something that cannot provide it.

    Raised instead of silently computing first-order updates: by an inner
    optimiser whose update is not differentiable, and when the gradient of the
    inner loss comes back without an autograd graph although second order was
    requested (the target or the loss contains an operation that is
    differentiable only once).
    """


class InnerOptimizer(abc.ABC, Generic[S]):
    """A differentiable optimiser over parameter dicts, as two pure functions.

    ``init_state(params)`` returns the optimiser state (explicit data, never
    stored on the optimiser) and ``step(params, grads, state)`` returns the new
    parameters and the new state. Nothing is updated in place, so the new
    parameters are differentiable functions of the old ones, of the gradients and
    of any tensor hyperparameter (a learned learning rate). Whether the loop is
    first or second order is decided by how the gradients were computed: with
    ``create_graph=True`` they carry a graph and the update is second order;
    without it (or detached) it is first order. :func:`~hyperfunc.inner.adapt`
    does this for you (its ``first_order`` argument).

    A parameter missing from ``grads`` (or whose gradient is ``None``) is left
    unchanged, and so is its state, as in ``torch.optim``.

    The same optimisers back the ``higher``-style front end
    :func:`hyperfunc.higher.innerloop_ctx`.
    """

    #: Whether :meth:`step` is differentiable with respect to the gradients, so that
    #: second-order adaptation is possible. An optimiser with a non-differentiable
    #: update (signs, rounding, ``detach``) sets this to ``False``, and
    #: :func:`~hyperfunc.inner.adapt` then refuses ``first_order=False`` with a
    #: :class:`SecondOrderError`.
    differentiable: ClassVar[bool] = True

    @abc.abstractmethod
    def init_state(self, params: Mapping[str, Tensor]) -> S:
        """The initial optimiser state for ``params`` (one entry per parameter)."""

    @abc.abstractmethod
    def step(self, params: Mapping[str, Tensor], grads: Grads, state: S) -> tuple[dict[str, Tensor], S]:
        """One update: ``(new_params, new_state)``; the inputs are not modified."""


def updates(params: Mapping[str, Tensor], grads: Grads) -> Iterator[tuple[str, Tensor, Tensor]]:
    """``(name, param, grad)`` for every parameter that has a gradient.

    Raises:
        KeyError: ``grads`` names a parameter that ``params`` does not have.
    """
    extra = sorted(set(grads) - set(params))
    if extra:
        raise KeyError(
            f"gradients were given for {extra}, which are not among the parameters "
            f"{sorted(params)}; pass gradients keyed by the same names as the parameters"
        )
    for name, p in params.items():
        g = grads.get(name)
        if g is not None:
            yield name, p, g


def check_rate(value: float | Tensor, what: str) -> None:
    """Reject a non-finite or negative float hyperparameter such as a learning rate.

    A tensor passes unchecked: reading its value would synchronise with the device,
    and a learned rate may legitimately be a tensor.

    Args:
        value: the hyperparameter (a float, an int, or a tensor).
        what: its name for the error message, e.g. ``"inner_lr"``.

    Raises:
        TypeError: ``value`` is neither a number nor a tensor (a bool is refused).
        ValueError: ``value`` is negative, infinite or NaN.

    Examples:
        >>> from hyperfunc.inner import check_rate
        >>> check_rate(0.01, "inner_lr")
        >>> check_rate(-1.0, "inner_lr")
        Traceback (most recent call last):
        ...
        ValueError: inner_lr must be a finite number >= 0, got -1.0
    """
    if isinstance(value, Tensor):
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{what} must be a float or a tensor, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")


def safe_sqrt(v: Tensor) -> Tensor:
    """``sqrt(v)`` whose derivative at ``v == 0`` is 0 instead of infinity.

    A weight whose gradient is exactly zero (a dead ReLU unit, an unused input)
    has a zero second-moment estimate; the plain square root would turn the
    second-order backward pass into ``inf · 0 = NaN``. Its update is zero either
    way (``higher`` masks the same entries).
    """
    if not v.requires_grad:
        return v.sqrt()
    pos = v > 0
    return torch.where(pos, torch.where(pos, v, torch.ones_like(v)).sqrt(), torch.zeros_like(v))


#: Entries of an optimiser state that are numbers, not tensors, when imported from ``torch.optim``.
_SCALARS = ("step", "eta", "mu")


def import_state(state: S, saved: Mapping[str, Mapping[str, object]], device: torch.device | str | None) -> S:
    """``state`` (a NamedTuple of per-parameter dicts) with the entries of a ``torch.optim`` state.

    ``saved`` maps parameter names to the ``torch.optim`` state of that parameter;
    every field of ``state`` whose name is a key there (``step``, ``exp_avg``,
    ``momentum_buffer``, ``sum``, ...) is copied: scalars as Python numbers,
    tensors detached and cloned (and moved to ``device``). This is how
    :func:`hyperfunc.higher.innerloop_ctx` carries over an optimiser that was
    already used, as ``higher`` does.
    """
    fields: dict[str, dict[str, object]] = {f: dict(getattr(state, f)) for f in state._fields}  # type: ignore[attr-defined]
    for name, entry in saved.items():
        for key, value in entry.items():
            if key not in fields:
                continue
            if key in _SCALARS:
                fields[key][name] = int(value) if key == "step" else float(value)  # type: ignore[call-overload, arg-type]
            elif isinstance(value, Tensor):
                t = value.detach().clone()
                fields[key][name] = t if device is None else t.to(device)
    return type(state)(**fields)
