"""The run layer: the one training loop every family, plugin and ``hyperfunc run`` goes through.

* :class:`RunConfig`: the settings every run shares (families subclass it), checked
  all at once;
* :class:`Phase` and :func:`train`: phases of Adam steps on ``method.loss(batch)``,
  with checkpoints, resume (every random state restored), time limits, Ctrl-C,
  ``metrics.jsonl`` / TensorBoard, ``model.pt`` and learning curves
  (:func:`plot_curves`, ``curves.png``);
* :class:`RunFolder`: run folders with a marker file, a lock, atomic writes, safe
  checkpoints (``weights_only=True``);
* :class:`Family`, :class:`Request`, :class:`Plan` and :data:`families`: how a family
  (built in, or a plugin's through the ``hyperfunc.families`` entry-point group)
  tells ``hyperfunc run`` its flags, how to build a run and how to evaluate it.

See the "Runs" page of the docs.
"""

from __future__ import annotations

from hyperfunc.run._args import accepts, build_target, check_kwargs, parse_assignments
from hyperfunc.run._config import POSITIVE, Check, RunConfig, at_least, between, option
from hyperfunc.run._curves import plot_curves
from hyperfunc.run._errors import (
    CheckpointError,
    CheckpointMismatchError,
    ConfigError,
    NonFiniteLossError,
    RunDirectoryError,
    RunError,
    RunInterrupted,
    UsageError,
)
from hyperfunc.run._family import Family, Plan, Request, families
from hyperfunc.run._figure import new_figure, save_figure
from hyperfunc.run._folder import RunFolder, atomic_write, load_checkpoint, strict_json
from hyperfunc.run._loop import Method, Phase, move_method, to_device, train

__all__ = [
    # settings and the loop
    "RunConfig",
    "option",
    "Check",
    "at_least",
    "between",
    "POSITIVE",
    "Method",
    "Phase",
    "train",
    "to_device",
    "move_method",
    "plot_curves",
    "new_figure",
    "save_figure",
    # run folders
    "RunFolder",
    "atomic_write",
    "load_checkpoint",
    "strict_json",
    # families
    "Family",
    "Request",
    "Plan",
    "families",
    # command-line helpers
    "parse_assignments",
    "accepts",
    "check_kwargs",
    "build_target",
    # errors
    "RunError",
    "ConfigError",
    "UsageError",
    "RunDirectoryError",
    "CheckpointError",
    "CheckpointMismatchError",
    "NonFiniteLossError",
    "RunInterrupted",
]
