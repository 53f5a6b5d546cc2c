"""A meta-batch of N-way classification episodes, held as tensors with a leading task axis."""

from __future__ import annotations

import attrs
import torch
from torch import Tensor

__all__ = ["EpisodeBatch"]


def _check(inst: EpisodeBatch, _attr: object, _value: Tensor | None) -> None:
    """Collect every shape and dtype problem of a batch and raise them together."""
    xs, ys, xq, yq = inst.x_support, inst.y_support, inst.x_query, inst.y_query
    problems = []
    for name, y in (("y_support", ys), ("y_query", yq)):
        if y.dim() != 2:
            problems.append(f"{name} has shape {tuple(y.shape)}, expected [tasks, examples]")
        if y.dtype != torch.int64:
            problems.append(f"{name} has dtype {y.dtype}, expected torch.int64 labels 0..n_way-1")
    for xname, x, yname, y in (("x_support", xs, "y_support", ys), ("x_query", xq, "y_query", yq)):
        if x.dim() < 2 or tuple(x.shape[:2]) != tuple(y.shape[:2]):
            problems.append(
                f"{xname} has shape {tuple(x.shape)} but {yname} has shape {tuple(y.shape)}; "
                f"expected {xname} [{', '.join(str(d) for d in y.shape[:2])}, ...]"
            )
    if xs.shape[:1] != xq.shape[:1]:
        problems.append(f"support has {xs.shape[0]} tasks but query has {xq.shape[0]}")
    if xs.shape[2:] != xq.shape[2:]:
        problems.append(
            f"support examples are {tuple(xs.shape[2:])} but query examples {tuple(xq.shape[2:])}"
        )
    if isinstance(inst.n_way, bool) or not isinstance(inst.n_way, int) or inst.n_way < 1:
        problems.append(f"n_way must be a positive int, got {inst.n_way!r}")
    elif inst.classes is not None and tuple(inst.classes.shape) != (xs.shape[0], inst.n_way):
        problems.append(
            f"classes has shape {tuple(inst.classes.shape)}, expected [tasks, n_way] = "
            f"[{xs.shape[0]}, {inst.n_way}]"
        )
    if problems:
        raise ValueError(
            "inconsistent episode batch: " + "; ".join(problems) + ". Build x_* as [tasks, examples, ...] "
            "and y_* as [tasks, examples] int64 labels, with the same tasks and example shape in both sets."
        )


@attrs.frozen(eq=False)
class EpisodeBatch:
    """``B`` episodes of N-way classification, stacked along a leading task axis.

    Labels are *local*: ``0..n_way-1`` within each episode, the same class having
    the same label in its support and query sets. Built by
    :class:`~hyperfunc.fewshot.Episodes`; any batch built by hand is checked the
    same way (every shape problem is reported at once).

    Attributes:
        x_support: ``[B, N*K, ...]`` support inputs.
        y_support: ``[B, N*K]`` int64 labels.
        x_query: ``[B, N*Q, ...]`` query inputs.
        y_query: ``[B, N*Q]`` int64 labels.
        n_way: ``N``, the number of classes of each episode.
        classes: ``[B, N]`` the dataset's class of each local label (``None`` when
            unknown): local label ``i`` of episode ``b`` is class ``classes[b, i]``.

    Examples:
        >>> import torch
        >>> from hyperfunc.fewshot import EpisodeBatch
        >>> b = EpisodeBatch(torch.zeros(4, 10, 3), torch.zeros(4, 10, dtype=torch.long),
        ...                  torch.zeros(4, 6, 3), torch.zeros(4, 6, dtype=torch.long), n_way=2)
        >>> b.num_tasks, b.example_shape
        (4, (3,))
        >>> EpisodeBatch(torch.zeros(4, 10, 3), torch.zeros(4, 9, dtype=torch.long),
        ...              torch.zeros(4, 6, 3), torch.zeros(4, 6, dtype=torch.long), n_way=2)
        Traceback (most recent call last):
        ...
        ValueError: inconsistent episode batch: x_support has shape (4, 10, 3) but y_support ...
    """

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor
    n_way: int
    classes: Tensor | None = attrs.field(default=None, validator=_check)

    @property
    def num_tasks(self) -> int:
        """``B``, the number of episodes."""
        return int(self.x_support.shape[0])

    @property
    def example_shape(self) -> tuple[int, ...]:
        """The shape of one input (``(1, 28, 28)`` for Omniglot)."""
        return tuple(int(d) for d in self.x_support.shape[2:])

    def to(self, device: torch.device | str) -> EpisodeBatch:
        """The same batch with every tensor moved to ``device``."""
        return EpisodeBatch(
            self.x_support.to(device),
            self.y_support.to(device),
            self.x_query.to(device),
            self.y_query.to(device),
            self.n_way,
            None if self.classes is None else self.classes.to(device),
        )
