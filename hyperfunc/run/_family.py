"""A family of methods tells the run layer its flags, how to build a run, its phases and evaluation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
from torch import nn

from hyperfunc._registry import Registry
from hyperfunc.run._config import RunConfig
from hyperfunc.run._folder import RunFolder
from hyperfunc.run._loop import Phase

__all__ = ["Family", "Request", "Plan", "families"]


@attrs.frozen
class Request:
    """What ``hyperfunc run`` asks a family to build, every name and argument already parsed.

    Attributes:
        method: the method's registered name; ``method_cls`` the class it names.
        tasks: the task's registered name.
        target: the target's registered name, or ``None`` when ``--target`` was not given
            (the family then uses the method's own default).
        method_args, target_args, task_args: the ``--method-arg`` / ``--target-arg`` /
            ``--task-arg`` assignments (JSON values).
        data: ``--data``, or ``None``.
        config: the validated settings (the family's :attr:`Family.config` class).
        options: the values of the flags the family added in :meth:`Family.add_arguments`.
        tasks_given: whether ``--tasks`` was given (``tasks`` is then not the family's default),
            so a family that reads ``--data`` itself can refuse a ``--tasks`` it would ignore.
    """

    method: str
    method_cls: Any
    tasks: str
    target: str | None
    method_args: Mapping[str, Any]
    target_args: Mapping[str, Any]
    task_args: Mapping[str, Any]
    data: str | None
    config: RunConfig
    options: Mapping[str, Any] = attrs.field(factory=dict)
    tasks_given: bool = True


@attrs.frozen
class Plan:
    """What a family builds for a run: the method, its phases, the final evaluation, its identity.

    Attributes:
        method: the method to train (an ``nn.Module`` with ``loss(batch) -> (loss, logs)``).
        phases: the phases of :func:`~hyperfunc.run.train`.
        finish: the final evaluation, ``finish(records, folder) -> results``.
        identity: what a resumed checkpoint must match besides the settings.
        summary: one line printed before training (what runs on what).
    """

    method: nn.Module
    phases: Sequence[Phase]
    finish: Callable[[list[dict[str, Any]], RunFolder | None], Mapping[str, Any]] | None = None
    identity: Mapping[str, Any] = attrs.field(factory=dict)
    summary: str = ""


class Family:
    """Base class of a family of methods (continual, few-shot, image functions, a plugin's own).

    A method class names its family in its ``family`` class attribute; the family
    is looked up in :data:`families` (entry-point group ``hyperfunc.families``), so
    a pip-installed plugin brings its own and ``hyperfunc run --method NAME`` works
    for its methods. A family says only what differs between families: its
    settings (a :class:`~hyperfunc.run.RunConfig` subclass: each field becomes a
    flag), extra flags (:meth:`add_arguments`) and how to :meth:`build` a
    :class:`Plan`. Everything else (the loop, checkpoints, run folders, errors)
    is the run layer's.
    """

    #: The family's name (what its methods put in their ``family`` attribute).
    name: ClassVar[str] = ""
    #: Its settings; every field becomes a ``hyperfunc run`` flag.
    config: ClassVar[type[RunConfig]] = RunConfig
    #: The task ``hyperfunc run`` uses when ``--tasks`` is not given.
    default_tasks: ClassVar[str] = ""

    def add_arguments(self, parser: Any) -> None:
        """Add flags that are not settings (e.g. ``--test-task-arg``) with ``parser.add_argument``."""

    def build(self, request: Request) -> Plan:
        """Load the data, build target and method, and return the run's :class:`Plan`."""
        raise NotImplementedError


#: The registry of families (entry-point group ``hyperfunc.families``).
families: Registry[type[Family]] = Registry("families", "hyperfunc.families")
