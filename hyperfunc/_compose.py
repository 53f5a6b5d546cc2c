"""Composition of a hypernetwork with a target, and functional calls at parameter snapshots."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from hyperfunc._errors import SpecMismatchError
from hyperfunc._target import Target, check_finite

__all__ = ["compose", "snapshot", "call_at"]


def compose(
    hypernet: nn.Module,
    target: Target,
    *,
    shared: bool | Sequence[bool] = False,
    check_finite_weights: bool = False,
) -> Callable[..., Any]:
    """Return ``f(z, *inputs)``: generate weights from ``z``, then evaluate the target.

    With ``z`` of shape ``[B, d]`` the target runs once per weight set in one
    vectorised call (:meth:`Target.batched`); inputs have a leading axis ``B`` unless
    ``shared`` says otherwise. With ``z`` of shape ``[d]`` it runs once. Gradients
    flow to the hypernetwork and to whatever produced ``z``.

    Args:
        hypernet: a module whose ``forward(z)`` returns a parameter dict for
            ``target.spec`` (any :mod:`hyperfunc.hypernets` class, or your own).
        target: the stateless target.
        shared: whether the inputs are shared by all weight sets (see
            :meth:`Target.batched`).
        check_finite_weights: raise :class:`~hyperfunc.NonFiniteWeightsError` if the
            generated weights contain NaN or inf (costs a device sync per call).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> target = hf.stateless(hf.targets.mlp(2, 3, hidden=(64,)))
        >>> hnet = hf.hypernets.MLPHyperNet(target, in_features=8, hidden=(32,))
        >>> f = hf.compose(hnet, target)
        >>> f(torch.randn(10, 8), torch.randn(10, 100, 2)).shape
        torch.Size([10, 100, 3])
    """
    if not isinstance(target, Target):
        raise TypeError(
            f"compose expects a hyperfunc Target as second argument, got {type(target).__name__}; "
            "wrap the module with hyperfunc.stateless(module)"
        )
    hspec = getattr(hypernet, "spec", None)
    if hspec is not None and hspec != target.spec:
        raise SpecMismatchError(
            "the hypernetwork was built for a different target: "
            + "; ".join(hspec.diff(target.spec))
            + ". Build the hypernetwork with this target (e.g. Chunked(target, ...))."
        )

    def f(z: Tensor, *inputs: Any) -> Any:
        params = hypernet(z)
        if check_finite_weights:
            check_finite(params)
        if z.dim() == 1:
            return target(params, *inputs)
        if z.dim() == 2:
            return target.batched(params, *inputs, shared=shared)
        raise ValueError(
            f"compose: z must be [d] (one weight set) or [B, d] (a batch), got {list(z.shape)}; "
            "flatten extra batch dimensions into B"
        )

    f.__doc__ = f"hypernet {type(hypernet).__name__} → {target!r}, batched over z's first axis."
    return f


def snapshot(module: nn.Module) -> dict[str, Tensor]:
    """Detached copies of ``module``'s parameters and buffers (for :func:`call_at`).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> net = torch.nn.Linear(2, 2)
        >>> old = hf.snapshot(net)
        >>> with torch.no_grad():
        ...     _ = net.weight.add_(1.0)
        >>> x = torch.randn(3, 2)
        >>> torch.allclose(hf.call_at(net, old, x), x @ (net.weight - 1).T + net.bias)
        True
    """
    with torch.no_grad():
        state = {n: p.detach().clone() for n, p in module.named_parameters()}
        state.update({n: b.detach().clone() for n, b in module.named_buffers()})
    return state


def call_at(module: nn.Module, state: Mapping[str, Tensor], *args: Any, **kwargs: Any) -> Any:
    """Call ``module`` with its parameters (and buffers) replaced by ``state``.

    A functional call (``torch.func.functional_call``), not a deep copy: the module
    is unchanged afterwards, and no gradient reaches its own parameters. This is
    how HNET evaluates the hypernetwork at the snapshot taken before a task.
    """
    expected = {n for n, _ in module.named_parameters()} | {n for n, _ in module.named_buffers()}
    missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or extra:
        raise SpecMismatchError(
            f"state does not match {type(module).__name__}: missing {missing}, unexpected {extra}; "
            "take it with hyperfunc.snapshot(module) from the same module"
        )
    return functional_call(module, dict(state), args, kwargs, strict=True)
