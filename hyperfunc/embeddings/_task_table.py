"""A learned embedding per task."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["TaskTable"]


class TaskTable(nn.Module):
    """A table of learned task embeddings, ``N(0, std²)`` at initialisation.

    Args:
        num_tasks: number of rows (tasks).
        dim: size of each embedding.
        std: initial standard deviation (1 matches the hypernetworks' assumption
            of unit-variance conditioning vectors).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> table = hf.embeddings.TaskTable(num_tasks=10, dim=32)
        >>> table(torch.tensor([0, 3])).shape
        torch.Size([2, 32])
    """

    def __init__(self, num_tasks: int, dim: int, std: float = 1.0) -> None:
        super().__init__()
        if num_tasks < 1 or dim < 1:
            raise ValueError(f"num_tasks and dim must be >= 1, got {num_tasks}, {dim}")
        self.num_tasks = num_tasks
        self.dim = dim
        self.weight = nn.Parameter(torch.randn(num_tasks, dim) * std)

    def forward(self, task_ids: Tensor | int) -> Tensor:
        ids = torch.as_tensor(task_ids, device=self.weight.device)
        if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
            raise TypeError(f"task ids must be integers, got dtype {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_tasks):
            raise IndexError(
                f"task id {int(ids.max()) if int(ids.max()) >= self.num_tasks else int(ids.min())} "
                f"is out of range: this table has tasks 0..{self.num_tasks - 1}; "
                "build it with a larger num_tasks"
            )
        return self.weight[ids.long()]
