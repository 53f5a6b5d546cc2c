"""Task streams for continual learning: split and permuted versions of a labelled dataset."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import attrs
import torch
from torch import Tensor

from hyperfunc.datasets import ImageDataset

__all__ = ["Task", "TaskStream", "split_stream", "permuted_stream"]


@attrs.frozen(eq=False)
class Task:
    """One task of a stream: its data with *local* labels ``0..len(classes)-1``.

    Attributes:
        index: position in the stream.
        classes: the dataset's labels in this task; local label ``i`` is ``classes[i]``.
        x_train, y_train, x_test, y_test: float32 inputs in [0, 1] and int64 local labels.
    """

    index: int
    classes: tuple[int, ...]
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    @property
    def num_classes(self) -> int:
        """Number of classes (outputs) of this task."""
        return len(self.classes)


class TaskStream:
    """A sequence of tasks built lazily from one dataset.

    Subclasses define ``_build(index) -> Task``. Tasks are built on demand (a permuted
    MNIST-10 stream would need 2 GB if all were held at once).

    Attributes:
        name: a short name (``"split-mnist"``).
        dataset: the underlying :class:`~hyperfunc.datasets.ImageDataset`.
        num_tasks: number of tasks.
        num_outputs: outputs the target needs (the largest task's number of classes).
        flatten: whether inputs are flattened to vectors (for MLP targets).
    """

    def __init__(
        self, name: str, dataset: ImageDataset, num_tasks: int, num_outputs: int, flatten: bool
    ) -> None:
        self.name = name
        self.dataset = dataset
        self.num_tasks = num_tasks
        self.num_outputs = num_outputs
        self.flatten = flatten

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input, ``(C·H·W,)`` when flattened, else ``(C, H, W)``."""
        shape = self.dataset.image_shape
        return (math.prod(shape),) if self.flatten else shape

    def __len__(self) -> int:
        return self.num_tasks

    def __iter__(self) -> Iterator[Task]:
        return (self[i] for i in range(self.num_tasks))

    def __getitem__(self, index: int) -> Task:
        if not isinstance(index, int) or not 0 <= index < self.num_tasks:
            raise IndexError(
                f"task id {index!r} is beyond the stream {self.name!r}, which has tasks "
                f"0..{self.num_tasks - 1}"
            )
        return self._build(index)

    def classes_of(self, index: int) -> tuple[int, ...]:
        """The dataset labels of task ``index`` (without building its data)."""
        raise NotImplementedError

    def _build(self, index: int) -> Task:
        raise NotImplementedError

    def _inputs(self, split: str, idx: Tensor | None = None) -> Tensor:
        x = self.dataset.float_images(split)
        if idx is not None:
            x = x[idx]
        return x.flatten(1) if self.flatten else x

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, {self.num_tasks} tasks, "
            f"input {self.input_shape}, {self.num_outputs} outputs)"
        )


class _Split(TaskStream):
    def __init__(
        self, name: str, dataset: ImageDataset, groups: list[tuple[int, ...]], flatten: bool
    ) -> None:
        super().__init__(name, dataset, len(groups), max(len(g) for g in groups), flatten)
        self.groups = groups

    def classes_of(self, index: int) -> tuple[int, ...]:
        return self.groups[index]

    def _build(self, index: int) -> Task:
        classes = self.groups[index]
        parts = {}
        for split in ("train", "test"):
            y = self.dataset.labels(split)
            keep = torch.isin(y, torch.tensor(classes))
            idx = keep.nonzero().squeeze(1)
            if len(idx) == 0:
                raise ValueError(
                    f"task {index} of {self.name!r} (classes {list(classes)}) has no {split} examples in "
                    f"{self.dataset.name!r} ({len(y)} {split} examples with labels {sorted(set(y.tolist()))})"
                )
            local = torch.full((max(int(y.max()), *classes) + 1,), -1, dtype=torch.int64)
            local[torch.tensor(classes)] = torch.arange(len(classes))
            parts[split] = (self._inputs(split, idx), local[y[idx]])
        return Task(index, classes, *parts["train"], *parts["test"])


class _Permuted(TaskStream):
    def __init__(
        self, name: str, dataset: ImageDataset, num_tasks: int, seed: int, flatten: bool, first_identity: bool
    ) -> None:
        super().__init__(name, dataset, num_tasks, dataset.num_classes, flatten)
        n = math.prod(dataset.image_shape)
        g = torch.Generator().manual_seed(seed)
        self.permutations = [torch.randperm(n, generator=g) for _ in range(num_tasks)]
        if first_identity:
            self.permutations[0] = torch.arange(n)

    def classes_of(self, index: int) -> tuple[int, ...]:
        return tuple(range(self.dataset.num_classes))

    def _build(self, index: int) -> Task:
        perm = self.permutations[index]
        parts = {}
        for split in ("train", "test"):
            x = self.dataset.float_images(split).flatten(1)[:, perm]
            if not self.flatten:
                x = x.reshape(-1, *self.dataset.image_shape)
            parts[split] = (x, self.dataset.labels(split))
        return Task(index, self.classes_of(index), *parts["train"], *parts["test"])


def split_stream(
    dataset: ImageDataset,
    classes_per_task: int = 2,
    groups: Sequence[Sequence[int]] | None = None,
    *,
    flatten: bool = True,
    name: str | None = None,
) -> TaskStream:
    """Partition a dataset's classes into tasks (SplitMNIST: 5 tasks × 2 classes).

    Args:
        dataset: the labelled dataset.
        classes_per_task: consecutive classes per task (ignored when ``groups`` is given).
        groups: explicit class groups, one per task; a class may appear in one group only.
        flatten: flatten images to vectors (for MLP targets).
        name: stream name (default ``"split-<dataset>"``).

    Raises:
        ValueError: for overlapping groups, unknown classes or an uneven split.
    """
    n = dataset.num_classes
    if groups is None:
        if classes_per_task < 1 or n % classes_per_task:
            raise ValueError(
                f"{n} classes can't be split into tasks of {classes_per_task}; choose a divisor "
                f"of {n} or pass explicit groups"
            )
        groups = [range(i, i + classes_per_task) for i in range(0, n, classes_per_task)]
    tuples = [tuple(int(c) for c in g) for g in groups]
    seen: dict[int, int] = {}
    problems = []
    for t, g in enumerate(tuples):
        if not g:
            problems.append(f"task {t} has no classes")
        for c in g:
            if not 0 <= c < n:
                problems.append(f"task {t} has class {c}, but the dataset has classes 0..{n - 1}")
            elif c in seen:
                problems.append(f"class {c} is in task {seen[c]} and task {t}")
            else:
                seen[c] = t
    if problems:
        raise ValueError(
            "invalid split: " + "; ".join(problems) + ". Every class may belong to one task only."
        )
    return _Split(name or f"split-{dataset.name}", dataset, tuples, flatten)


def permuted_stream(
    dataset: ImageDataset,
    num_tasks: int = 10,
    seed: int = 0,
    *,
    flatten: bool = True,
    first_identity: bool = False,
    name: str | None = None,
) -> TaskStream:
    """One fixed random pixel permutation per task (PermutedMNIST-10), all classes in each.

    Args:
        dataset: the labelled dataset.
        num_tasks: number of permutations.
        seed: seeds the permutations.
        flatten: flatten images to vectors (for MLP targets).
        first_identity: leave the first task unpermuted.
        name: stream name (default ``"permuted-<dataset>"``).
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    return _Permuted(name or f"permuted-{dataset.name}", dataset, num_tasks, seed, flatten, first_identity)
