"""Parameter specs: names, shapes and dtypes of a target network's parameters."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from hyperfunc._errors import SpecMismatchError

__all__ = ["ParamSpec"]

Shape = tuple[int, ...]


def _to_names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _to_shapes(value: Any) -> tuple[Shape, ...]:
    return tuple(tuple(int(d) for d in s) for s in value)


def _to_dtypes(value: Any) -> tuple[torch.dtype, ...]:
    return tuple(value)


def _fmt_shape(batch: Shape, shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in (*batch, *shape)) + "]"


@attrs.frozen(eq=True)
class ParamSpec:
    """The ordered names, shapes and dtypes of a target network's parameters.

    A spec is the contract between a hypernetwork and a target: the hypernetwork
    produces a ``dict[str, Tensor]`` that matches it, the target consumes one.
    Every tensor of such a dict may carry any number of leading *batch* dimensions
    (one weight set per task, episode or image); they must be the same for all
    entries.

    Args:
        names: parameter names, in order (as ``nn.Module.named_parameters`` gives them).
        shapes: one shape per name (without batch dimensions).
        dtypes: one dtype per name; defaults to ``torch.get_default_dtype()`` for all.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> spec = hf.ParamSpec.from_module(torch.nn.Linear(3, 2))
        >>> spec.names, spec.shapes, spec.size
        (('weight', 'bias'), ((2, 3), (2,)), 8)
        >>> params = spec.unflatten(torch.arange(16.0).reshape(2, 8))  # batch of 2
        >>> params["weight"].shape
        torch.Size([2, 2, 3])
        >>> torch.equal(spec.flatten(params), torch.arange(16.0).reshape(2, 8))
        True
    """

    names: tuple[str, ...] = attrs.field(converter=_to_names)
    shapes: tuple[Shape, ...] = attrs.field(converter=_to_shapes)
    dtypes: tuple[torch.dtype, ...] = attrs.field(converter=_to_dtypes, default=())
    # derived, computed once (unflatten is on the hot path of every hypernetwork call)
    _numels: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)
    _offsets: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)
    _size: int = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.dtypes:
            object.__setattr__(self, "dtypes", (torch.get_default_dtype(),) * len(self.names))
        problems = []
        if len(self.shapes) != len(self.names):
            problems.append(f"{len(self.names)} names but {len(self.shapes)} shapes")
        if len(self.dtypes) != len(self.names):
            problems.append(f"{len(self.names)} names but {len(self.dtypes)} dtypes")
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            problems.append(f"duplicate names {dup}")
        bad = [s for s in self.shapes if any(d < 0 for d in s)]
        if bad:
            problems.append(f"negative dimensions in shapes {bad}")
        notdt = [d for d in self.dtypes if not isinstance(d, torch.dtype)]
        if notdt:
            problems.append(f"dtypes must be torch.dtype objects, got {notdt}")
        if problems:
            raise ValueError("invalid ParamSpec: " + "; ".join(problems))
        numels = tuple(math.prod(sh) for sh in self.shapes)
        offsets, acc = [], 0
        for n in numels:
            offsets.append(acc)
            acc += n
        object.__setattr__(self, "_numels", numels)
        object.__setattr__(self, "_offsets", tuple(offsets))
        object.__setattr__(self, "_size", acc)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_module(cls, module: nn.Module) -> ParamSpec:
        """The spec of ``module``'s parameters (tied parameters appear once).

        Raises:
            TypeError: if ``module`` is not an ``nn.Module``.
        """
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"ParamSpec.from_module expects an nn.Module, got {type(module).__name__}; "
                "to describe a plain dict of tensors use ParamSpec.from_params(params)"
            )
        named = list(module.named_parameters())
        return cls(
            [n for n, _ in named], [tuple(p.shape) for _, p in named], [p.dtype for _, p in named]
        )

    @classmethod
    def from_params(cls, params: Mapping[str, Tensor], batch_ndim: int = 0) -> ParamSpec:
        """The spec of a parameter dict whose tensors carry ``batch_ndim`` leading dims."""
        return cls(
            list(params),
            [tuple(t.shape[batch_ndim:]) for t in params.values()],
            [t.dtype for t in params.values()],
        )

    # ------------------------------------------------------------ properties
    @property
    def numels(self) -> tuple[int, ...]:
        """Number of elements of each parameter."""
        return self._numels

    @property
    def size(self) -> int:
        """Total number of scalar parameters (the length of a flattened vector)."""
        return self._size

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start of each parameter in the flattened vector."""
        return self._offsets

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def shape_of(self, name: str) -> Shape:
        """Shape of parameter ``name``."""
        return self.shapes[self._index(name)]

    def slice_of(self, name: str) -> slice:
        """Position of parameter ``name`` in the flattened vector."""
        i = self._index(name)
        return slice(self.offsets[i], self.offsets[i] + self.numels[i])

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"{name!r} is not in this spec; its names are {list(self.names)}") from None

    # ------------------------------------------------------------ validation
    def validate(
        self,
        params: Mapping[str, Tensor],
        *,
        batch_shape: Shape | None = None,
        check_dtype: bool = True,
    ) -> torch.Size:
        """Check ``params`` against the spec and return its common batch shape.

        Every problem is collected and reported together in one
        :class:`~hyperfunc.SpecMismatchError`: missing and unexpected names, tensors
        whose trailing shape is wrong, dtypes that differ, batch dimensions that
        differ between entries (or from ``batch_shape`` when given).
        """
        if not isinstance(params, Mapping):
            raise TypeError(
                f"expected a dict mapping parameter names to tensors, got {type(params).__name__}"
            )
        problems: list[str] = []
        missing = [n for n in self.names if n not in params]
        unexpected = [n for n in params if n not in self.names]
        if missing:
            problems.append(f"Missing key(s): {', '.join(map(repr, missing))}")
        if unexpected:
            problems.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}")
        batches: dict[str, Shape] = {}
        for name, shape, dtype in zip(self.names, self.shapes, self.dtypes):
            if name not in params:
                continue
            t = params[name]
            if not isinstance(t, Tensor):
                problems.append(f"{name!r}: expected a Tensor, got {type(t).__name__}")
                continue
            k = len(shape)
            if t.dim() < k or tuple(t.shape[t.dim() - k :]) != shape:
                problems.append(
                    f"{name!r}: expected shape [*batch, {', '.join(map(str, shape))}]"
                    f" ({list(shape)} after any batch dims), got {list(t.shape)}"
                )
                continue
            if check_dtype and t.dtype != dtype:
                problems.append(f"{name!r}: expected dtype {dtype}, got {t.dtype}")
            batches[name] = tuple(t.shape[: t.dim() - k])
        distinct = set(batches.values())
        if batch_shape is not None:
            wrong = {n: b for n, b in batches.items() if b != tuple(batch_shape)}
            if wrong:
                problems.append(
                    f"expected batch shape {list(batch_shape)} on every entry, got "
                    + ", ".join(f"{n!r}: {list(b)}" for n, b in wrong.items())
                )
        elif len(distinct) > 1:
            problems.append(
                "entries have different leading batch shapes: "
                + ", ".join(f"{n!r}: {list(b)}" for n, b in batches.items())
                + "; every tensor needs the same leading batch dimensions"
            )
        if problems:
            raise SpecMismatchError(
                f"parameters do not match the spec ({len(problems)} problem(s)):\n  - "
                + "\n  - ".join(problems)
                + "\nThe spec expects: "
                + ", ".join(f"{n!r} {list(s)}" for n, s in zip(self.names, self.shapes))
            )
        if batch_shape is not None:
            return torch.Size(batch_shape)
        return torch.Size(next(iter(distinct))) if distinct else torch.Size()

    # --------------------------------------------------------- flat <-> dict
    def flatten(self, params: Mapping[str, Tensor], *, check_dtype: bool = False) -> Tensor:
        """Concatenate a (batched) parameter dict into vectors of shape ``[*batch, size]``.

        Entries are taken in spec order; dtypes are promoted to a common dtype.
        """
        batch = self.validate(params, check_dtype=check_dtype)
        if not self.names:
            return torch.zeros(*batch, 0)
        return torch.cat([params[n].reshape(*batch, -1) for n in self.names], dim=-1)

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """Split vectors of shape ``[*batch, size]`` into a parameter dict (views, no copy).

        Each entry is cast to the spec's dtype for it (a no-op when they agree).
        """
        if not isinstance(flat, Tensor) or flat.dim() < 1 or flat.shape[-1] != self.size:
            got = list(flat.shape) if isinstance(flat, Tensor) else type(flat).__name__
            raise SpecMismatchError(
                f"unflatten expects a tensor of shape [*batch, {self.size}] (the spec's total "
                f"size), got {got}"
            )
        batch = flat.shape[:-1]
        out: dict[str, Tensor] = {}
        # one split (not one slice per tensor): backward then builds a single concatenation
        pieces = torch.split(flat, list(self._numels), dim=-1)
        for name, shape, dtype, piece in zip(self.names, self.shapes, self.dtypes, pieces):
            piece = piece.reshape((*batch, *shape))
            out[name] = piece if piece.dtype == dtype else piece.to(dtype)
        return out

    def select(self, names: Sequence[str]) -> ParamSpec:
        """The spec of a subset of the parameters, in the order of ``names``."""
        idx = [self._index(n) for n in names]
        return ParamSpec(names, [self.shapes[i] for i in idx], [self.dtypes[i] for i in idx])

    def diff(self, other: ParamSpec) -> list[str]:
        """Human-readable differences from ``other`` (empty if the specs are equal)."""
        out = []
        only_a = [n for n in self.names if n not in other.names]
        only_b = [n for n in other.names if n not in self.names]
        if only_a:
            out.append(f"only in the first: {only_a}")
        if only_b:
            out.append(f"only in the second: {only_b}")
        for n in self.names:
            if n in other.names:
                a, b = self.shape_of(n), other.shape_of(n)
                da, db = self.dtypes[self.names.index(n)], other.dtypes[other.names.index(n)]
                if a != b:
                    out.append(f"{n!r}: shape {list(a)} vs {list(b)}")
                if da != db:
                    out.append(f"{n!r}: dtype {da} vs {db}")
        if not out and self.names != other.names:
            out.append("same names in a different order")
        return out

    def describe(self) -> str:
        """A table of names, shapes and sizes (for printing)."""
        w = max((len(n) for n in self.names), default=4)
        rows = [f"{n:<{w}}  {list(s)!s:<20} {k:>10,}" for n, s, k in
                zip(self.names, self.shapes, self.numels)]
        rows.append(f"{'total':<{w}}  {'':<20} {self.size:>10,}")
        return "\n".join(rows)
