"""Command-line argument helpers shared by every family: assignments, keyword checks, targets."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from hyperfunc.run._errors import UsageError

__all__ = ["parse_assignments", "accepts", "check_kwargs", "build_target"]


def parse_assignments(items: Sequence[str], flag: str) -> dict[str, Any]:
    """``["a=1", "b=[2,3]", "c=relu"]`` → ``{"a": 1, "b": [2, 3], "c": "relu"}`` (JSON values, else text).

    Examples:
        >>> from hyperfunc.run import parse_assignments
        >>> parse_assignments(["beta=0.05", "hidden=[64,64]", "act=relu"], "--method-arg")
        {'beta': 0.05, 'hidden': [64, 64], 'act': 'relu'}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} must look like KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes the keyword argument ``name`` (by name, or through ``**kwargs``).

    Examples:
        >>> from hyperfunc.run import accepts
        >>> accepts(lambda root=None: 0, "root"), accepts(lambda **kw: 0, "root"), accepts(lambda: 0, "root")
        (True, True, False)
    """
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def check_kwargs(
    fn: Callable[..., Any], kwargs: Mapping[str, Any], flag: str, what: str, given: Sequence[str] = ()
) -> None:
    """Raise :class:`UsageError` naming every key of ``kwargs`` that ``fn`` does not take.

    ``given`` lists the names the caller fills itself (they may not be set with ``flag``).
    """
    params = inspect.signature(fn).parameters
    unknown = sorted(k for k in kwargs if not accepts(fn, k))
    taken = sorted(k for k in kwargs if k in given)
    accepted = [
        n
        for n, p in params.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n not in given and n != "self"
    ]
    problems = []
    if unknown:
        problems.append(f"{what} takes no argument(s) {', '.join(unknown)}")
    if taken:
        problems.append(
            f"{what}: {', '.join(taken)} {'is' if len(taken) == 1 else 'are'} set by hyperfunc run itself"
        )
    if problems:
        raise UsageError(f"{flag}: {'; '.join(problems)}; it takes {', '.join(accepted) or 'nothing'}")


def build_target(
    factory: Callable[..., nn.Module],
    input_shape: Sequence[int],
    num_outputs: int | None,
    args: Mapping[str, Any],
) -> tuple[nn.Module, bool]:
    """Call a target factory, filling the input/output sizes it asks for by parameter name.

    Returns the module and whether it wants flat vector inputs (``in_features``).
    """
    params = inspect.signature(factory).parameters
    kw: dict[str, Any] = {}
    flat = "in_features" in params
    if flat:
        kw["in_features"] = math.prod(input_shape)
    if "in_channels" in params:
        kw["in_channels"] = input_shape[0]
    if "image_size" in params and len(input_shape) == 3:
        kw["image_size"] = input_shape[-1]
    if num_outputs is not None:
        for name in ("out_features", "num_classes"):
            if name in params:
                kw[name] = num_outputs
    check_kwargs(factory, args, "--target-arg", "the target", given=())
    kw.update(args)
    return factory(**kw), flat
