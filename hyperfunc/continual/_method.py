"""The interface every continual-learning method implements."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import torch
from torch import Tensor, nn

from hyperfunc._target import Target
from hyperfunc.continual._streams import Task

__all__ = ["ContinualMethod", "TaskBatch"]


@attrs.frozen(eq=False)
class TaskBatch:
    """A minibatch of one task: the task id, inputs ``x`` and labels ``y``.

    Examples:
        >>> import torch
        >>> from hyperfunc.continual import TaskBatch
        >>> TaskBatch(2, torch.zeros(4, 8), torch.zeros(4, dtype=torch.long)).to("cpu").task
        2
    """

    task: int
    x: Tensor
    y: Tensor

    def to(self, device: torch.device | str) -> TaskBatch:
        """The same batch on ``device``."""
        return TaskBatch(self.task, self.x.to(device), self.y.to(device))


class ContinualMethod(nn.Module):
    """Base class: all trainable state is in this module, so ``state_dict`` is a checkpoint.

    The run layer (:func:`~hyperfunc.continual.run_continual`, ``hyperfunc run``) calls,
    for each task ``t``: :meth:`begin_task`, then repeatedly :meth:`loss` on
    :class:`TaskBatch` minibatches with a fresh optimiser over :meth:`trainable`, then
    :meth:`end_task`; it evaluates with
    :meth:`weights` (task-incremental) and, for task-conditioned methods,
    :meth:`weights_upto` (task inference by predictive entropy).

    Args:
        target: the stateless target network.
        num_tasks: length of the task stream.
    """

    family: ClassVar[str] = "continual"
    #: True when each task has its own generated weights (enables task inference).
    conditioned: ClassVar[bool] = False

    def __init__(self, target: Target, num_tasks: int) -> None:
        super().__init__()
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        self.target = target
        self.num_tasks = num_tasks

    def check_task(self, t: int) -> None:
        """Raise a clear error unless ``0 <= t < num_tasks``."""
        if not 0 <= t < self.num_tasks:
            raise IndexError(
                f"task id {t} is beyond this {type(self).__name__}, built for tasks "
                f"0..{self.num_tasks - 1}; build it with num_tasks >= {t + 1}"
            )

    def begin_task(self, t: int) -> None:
        """Called before training task ``t``."""

    def end_task(self, t: int, task: Task) -> None:
        """Called after training task ``t``."""

    def trainable(self, t: int) -> list[nn.Parameter]:
        """Parameters the optimiser updates during task ``t`` (default: all)."""
        return [p for p in self.parameters() if p.requires_grad]

    def weights(self, t: int) -> dict[str, Tensor]:
        """The target weights used for task ``t``."""
        raise NotImplementedError

    def weights_upto(self, n: int) -> dict[str, Tensor]:
        """Weights of tasks ``0..n-1`` with a leading task axis (one batched call)."""
        ws = [self.weights(t) for t in range(n)]
        return {k: torch.stack([w[k] for w in ws]) for k in ws[0]}

    def loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        """Training loss on a minibatch of task ``batch.task`` and numbers to log."""
        raise NotImplementedError

    def logits(self, t: int, x: Tensor) -> Tensor:
        """Predictions of task ``t``'s network on ``x``."""
        self.check_task(t)
        out: Tensor = self.target(self.weights(t), x)
        return out

    def describe(self) -> dict[str, Any]:
        """Hyperparameters for the results file."""
        return {}
