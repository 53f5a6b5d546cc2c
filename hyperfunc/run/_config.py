"""The settings every run shares, with one set of checks that reports every bad value at once."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import torch

from hyperfunc.run._errors import ConfigError

__all__ = ["RunConfig", "option", "Check", "at_least", "between", "POSITIVE", "IDENTITY_EXEMPT"]

#: Fields that never change a run's numbers, so a resumed run may change them
#: (``steps`` too, unless the learning rate schedule depends on it).
IDENTITY_EXEMPT = frozenset(
    {
        "steps",
        "time_limit",
        "device",
        "threads",
        "checkpoint_every",
        "log_every",
        "progress",
        "tensorboard",
        "collective_timeout",
    }
)


@attrs.frozen
class Check:
    """A test of one setting, and what a good value is (for the error message).

    Examples:
        >>> from hyperfunc.run import Check, at_least, between
        >>> at_least(1)(0), at_least(1).expected
        (False, 'an int >= 1')
        >>> between(0, 1)(0.5), Check(lambda v: v in ("a", "b"), "'a' or 'b'")("c")
        (True, False)
    """

    test: Callable[[Any], bool]
    expected: str

    def __call__(self, value: Any) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError):  # e.g. comparing a string with a number
            return False


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def at_least(low: int) -> Check:
    """An int ``>= low`` (not a bool)."""
    return Check(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low, f"an int >= {low}")


def between(low: float, high: float) -> Check:
    """A finite number in ``[low, high]``."""
    return Check(lambda v: _number(v) and low <= v <= high, f"a number in [{low}, {high}]")


#: A finite number > 0 (learning rates, minutes).
POSITIVE = Check(lambda v: _number(v) and v > 0, "a finite number > 0")


def option(
    default: Any, help: str, check: Check | None = None, choices: tuple[str, ...] | None = None
) -> Any:
    """An attrs field of a run configuration: its default, its ``--help`` text and its :class:`Check`.

    Subclasses of :class:`RunConfig` declare their fields with it; the command line
    makes a flag of each one. With a ``None`` default, ``None`` is a good value too
    (meaning "not set").
    """
    return attrs.field(default=default, metadata={"help": help, "check": check, "choices": choices})


def device_problem(value: object) -> str | None:
    """Why ``value`` is not a device this machine can train on (``None`` when it is)."""
    try:
        device = torch.device(value)  # type: ignore[call-overload]
    except (RuntimeError, TypeError, ValueError):
        return "not a torch device; use e.g. 'cpu', 'cuda' or 'cuda:1'"
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return "CUDA is not available in this PyTorch build or on this machine; use 'cpu'"
        if device.index is not None and device.index >= torch.cuda.device_count():
            return f"this machine has {torch.cuda.device_count()} CUDA device(s)"
    elif device.type == "mps" and not torch.backends.mps.is_available():
        return "MPS is not available on this machine; use 'cpu'"
    elif device.type not in ("cpu", "cuda", "mps"):
        return "only 'cpu', 'cuda[:N]' and 'mps' are supported"
    return None


@attrs.frozen(kw_only=True)
class RunConfig:
    """What every run shares, whatever its family; families subclass it to add their fields.

    Every field is checked when the config is built, and *all* bad values are
    reported together in one :class:`~hyperfunc.run.ConfigError`. The command line
    (``hyperfunc run``) makes one flag of each field (``batch_size`` → ``--batch-size``).

    Attributes:
        steps: optimiser steps per phase (per task for continual learning).
        batch_size: examples, episodes or images per step (``None``: the family's default).
        lr: Adam's learning rate.
        lr_schedule: ``"constant"``, or ``"cosine"`` (decays to 0 over each phase).
        seed: seeds initialisation, batches and every random choice.
        device: where to train (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); must exist here.
        threads: torch's CPU threads (``None``: torch's default).
        time_limit: stop training after this many minutes (``None``: no limit).
        checkpoint_every: steps between checkpoints (also written at every phase end,
            at the end and on Ctrl-C / SIGTERM).
        log_every: steps between lines of ``metrics.jsonl``.
        progress: show progress bars.
        tensorboard: also write TensorBoard event files (needs the ``tensorboard`` package).
        collective_timeout: with several processes (torchrun), the seconds one waits
            for the others before the run stops with an error (a process died or hung);
            applied when the run starts the process group (a group you started with
            :func:`hyperfunc.distributed.init` keeps its own timeout).

    Examples:
        >>> from hyperfunc.run import RunConfig, ConfigError
        >>> RunConfig(steps=100, lr=3e-4).lr
        0.0003
        >>> try:
        ...     RunConfig(steps=0, lr=float("inf"))
        ... except ConfigError as e:
        ...     print(e)
        bad run settings: steps=0 (expected an int >= 1); lr=inf (expected a finite number > 0)
    """

    steps: int = option(500, "optimiser steps per phase (per task for continual learning)", at_least(1))
    batch_size: int | None = option(
        None, "examples / episodes / images per step (default: the family's)", at_least(1)
    )
    lr: float = option(1e-3, "Adam's learning rate", POSITIVE)
    lr_schedule: str = option(
        "constant",
        "learning rate over each phase",
        Check(lambda v: v in ("constant", "cosine"), "'constant' or 'cosine'"),
        choices=("constant", "cosine"),
    )
    seed: int = option(0, "random seed", at_least(0))
    device: str = option(
        "cpu",
        "torch device to train on",
        Check(lambda v: device_problem(v) is None, "a device of this machine"),
    )
    threads: int | None = option(None, "torch CPU threads (default: torch's)", at_least(1))
    time_limit: float | None = option(None, "stop training after this many minutes", POSITIVE)
    checkpoint_every: int = option(500, "steps between checkpoints", at_least(1))
    log_every: int = option(50, "steps between lines of metrics.jsonl", at_least(1))
    progress: bool = option(True, "show progress bars", Check(lambda v: isinstance(v, bool), "True or False"))
    tensorboard: bool = option(
        False, "also write TensorBoard event files", Check(lambda v: isinstance(v, bool), "True or False")
    )
    collective_timeout: float = option(
        300.0, "seconds a process waits for the others (torchrun) before the run stops", POSITIVE
    )

    def __attrs_post_init__(self) -> None:
        problems = []
        for f in attrs.fields(type(self)):
            check, value = f.metadata.get("check"), getattr(self, f.name)
            if check is None or (value is None and f.default is None):
                continue
            if not check(value):
                why = device_problem(value) if f.name == "device" else None
                problems.append(
                    f"{f.name}={value!r} (expected {check.expected}" + (f": {why})" if why else ")")
                )
        if problems:
            raise ConfigError("bad run settings: " + "; ".join(problems))

    def identity(self) -> dict[str, Any]:
        """The fields a resumed run must share with its checkpoint (all but the exempt ones)."""
        exempt = set(IDENTITY_EXEMPT)
        if self.lr_schedule != "constant":
            exempt.discard("steps")  # the schedule's shape depends on it
        return {k: v for k, v in attrs.asdict(self).items() if k not in exempt}
