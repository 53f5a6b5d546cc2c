"""The settings every run shares, with one set of checks that reports every bad value at once."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import torch

from hyperfunc.run._errors import ConfigError

__all__ = ["RunConfig", "option", "IDENTITY_EXEMPT"]

#: Fields that never change a run's numbers, so a resumed run may change them
#: (``steps`` too, unless the learning rate schedule depends on it).
IDENTITY_EXEMPT = frozenset(
    {"steps", "time_limit", "device", "threads", "checkpoint_every", "log_every", "progress", "tensorboard"}
)


def option(
    default: Any,
    help: str,
    check: Callable[[Any], bool] | None = None,
    expected: str = "",
    choices: tuple[str, ...] | None = None,
) -> Any:
    """An attrs field of a run configuration: its default, its ``--help`` text and its check.

    ``check(value)`` returns whether the value is good; ``expected`` says what a good
    value is, for the error. Subclasses of :class:`RunConfig` declare their own
    fields with it; the command line makes a flag of each one.
    """
    return attrs.field(
        default=default, metadata={"help": help, "check": check, "expected": expected, "choices": choices}
    )


def _int(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positive(v: Any) -> bool:
    return _real(v) and v > 0


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

    steps: int = option(
        500, "optimiser steps per phase (per task for continual learning)", _int(1), "an int >= 1"
    )
    batch_size: int | None = option(
        None,
        "examples / episodes / images per step (default: the family's)",
        lambda v: v is None or _int(1)(v),
        "an int >= 1",
    )
    lr: float = option(1e-3, "Adam's learning rate", _positive, "a finite number > 0")
    lr_schedule: str = option(
        "constant",
        "learning rate over each phase",
        lambda v: v in ("constant", "cosine"),
        "'constant' or 'cosine'",
        choices=("constant", "cosine"),
    )
    seed: int = option(0, "random seed", _int(0), "an int >= 0")
    device: str = option(
        "cpu", "torch device to train on", lambda v: device_problem(v) is None, "a device of this machine"
    )
    threads: int | None = option(
        None, "torch CPU threads (default: torch's)", lambda v: v is None or _int(1)(v), "an int >= 1"
    )
    time_limit: float | None = option(
        None,
        "stop training after this many minutes",
        lambda v: v is None or _positive(v),
        "a finite number of minutes > 0",
    )
    checkpoint_every: int = option(500, "steps between checkpoints", _int(1), "an int >= 1")
    log_every: int = option(50, "steps between lines of metrics.jsonl", _int(1), "an int >= 1")
    progress: bool = option(True, "show progress bars", lambda v: isinstance(v, bool), "True or False")
    tensorboard: bool = option(
        False, "also write TensorBoard event files", lambda v: isinstance(v, bool), "True or False"
    )

    def __attrs_post_init__(self) -> None:
        problems = []
        for f in attrs.fields(type(self)):
            check, value = f.metadata.get("check"), getattr(self, f.name)
            if check is None:
                continue
            if not check(value):
                why = device_problem(value) if f.name == "device" else None
                problems.append(
                    f"{f.name}={value!r} (expected {f.metadata['expected']}" + (f": {why})" if why else ")")
                )
        if problems:
            raise ConfigError("bad run settings: " + "; ".join(problems))

    def identity(self) -> dict[str, Any]:
        """The fields a resumed run must share with its checkpoint (all but the exempt ones)."""
        exempt = set(IDENTITY_EXEMPT)
        if self.lr_schedule != "constant":
            exempt.discard("steps")  # the schedule's shape depends on it
        return {k: v for k, v in attrs.asdict(self).items() if k not in exempt}
