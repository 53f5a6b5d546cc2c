"""Point clouds on the run layer: the ``pointclouds`` family of ``hyperfunc run``, and fit."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import hyperfunc
import torch
from hyperfunc.run import (
    Check,
    Family,
    Phase,
    Plan,
    Request,
    RunConfig,
    RunFolder,
    UsageError,
    accepts,
    at_least,
    check_kwargs,
    move_method,
    option,
)
from hyperfunc.run import train as train_run
from torch import Tensor

from hyperfunc_pointclouds._evaluate import evaluate
from hyperfunc_pointclouds._io import load_point_clouds
from hyperfunc_pointclouds._model import HyperCloud, check_clouds
from hyperfunc_pointclouds._plot import plot_clouds
from hyperfunc_pointclouds._shapes import ShapeClouds

__all__ = ["PLOT", "PointCloudConfig", "PointCloudFamily", "fit"]

#: The picture the final evaluation writes into the run folder.
PLOT = "reconstructions.png"
_PLOTTED = 8  # test clouds shown in reconstructions.png
_TEST_FRACTION = 0.2  # --data: default share of the clouds held out for testing

Clouds = ShapeClouds | Tensor
Finish = Callable[[list[dict[str, Any]], RunFolder | None], Mapping[str, Any]]


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _fraction(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1


@attrs.frozen(kw_only=True)
class PointCloudConfig(RunConfig):
    """:class:`~hyperfunc.run.RunConfig` for point clouds (``hyperfunc run --method hypercloud``).

    Every field is a flag of ``hyperfunc run`` (``num_points`` → ``--num-points``).
    The sizes of a task's clouds are task arguments (``--task-arg num_clouds=100``),
    the model's sizes method arguments (``--method-arg dim=64``).

    Attributes:
        steps: Adam steps (default 1000).
        batch_size: clouds per training step (all of them when there are fewer) and
            per evaluation pass (default 16).
        num_points: ``--data`` only: subsample every cloud to this many points
            (``None``: keep the files' size).
        test_fraction: ``--data`` only: the share of the clouds held out for
            testing, at least one (``None``: 0.2).

    Examples:
        >>> from hyperfunc_pointclouds import PointCloudConfig
        >>> PointCloudConfig().steps, PointCloudConfig().batch_size
        (1000, 16)
    """

    steps: int = option(1000, "Adam steps", at_least(1))
    batch_size: int | None = option(
        16, "clouds per training step (at most all of them) and per evaluation pass", at_least(1)
    )
    num_points: int | None = option(
        None,
        "--data only: subsample every cloud to this many points (None keeps the files' size)",
        at_least(1),
    )
    test_fraction: float | None = option(
        None,
        f"--data only: share of the clouds held out for testing (None: {_TEST_FRACTION})",
        Check(lambda v: 0 < v < 1 and not isinstance(v, bool), "a number with 0 < F < 1"),
    )


def _points(clouds: Clouds) -> Tensor:
    return clouds.points if isinstance(clouds, ShapeClouds) else clouds


def _device(model: HyperCloud) -> torch.device:
    p = next(iter(model.parameters()), None)
    return torch.device("cpu") if p is None else p.device


def _phase(model: HyperCloud, points: Tensor, batch_size: int) -> Phase:
    """One phase of Adam steps on random subsets of ``points`` (drawn from the run's generator)."""
    p = next(iter(model.parameters()), None)
    clouds = points if p is None else points.to(dtype=p.dtype)  # the loop moves each batch
    count = clouds.shape[0]
    size = min(batch_size, count)

    def batch(step: int, g: torch.Generator) -> Tensor:
        return clouds[torch.randperm(count, generator=g)[:size]]

    return Phase("train", batch)


def _titles(clouds: Clouds, indices: list[int] | None) -> list[str]:
    if isinstance(clouds, ShapeClouds):
        return [clouds.kinds[int(i)] for i in clouds.labels[:_PLOTTED]]
    shown = range(min(_PLOTTED, clouds.shape[0])) if indices is None else indices[:_PLOTTED]
    return [f"cloud {i}" for i in shown]


def _finish(
    model: HyperCloud,
    initial: HyperCloud,
    test: Clouds,
    config: PointCloudConfig,
    extra: Mapping[str, Any],
    indices: list[int] | None = None,
) -> Finish:
    """The final evaluation: test Chamfer before and after training, per kind, and the picture."""

    def finish(records: list[dict[str, Any]], folder: RunFolder | None) -> Mapping[str, Any]:
        batch_size, seed = config.batch_size or 16, config.seed
        device = _device(model)
        after = evaluate(model, test, batch_size=batch_size, seed=seed)
        move_method(initial, device)
        before = evaluate(initial, test, batch_size=batch_size, seed=seed)
        per_kind = {
            kind: {
                "before": before["per_kind"][kind]["chamfer"],
                "after": value["chamfer"],
                "num_clouds": value["num_clouds"],
            }
            for kind, value in after["per_kind"].items()
        }
        plot = None
        if folder is not None:
            shown = _points(test)[:_PLOTTED]
            with torch.no_grad():
                recon = model.reconstruct(
                    shown.to(device=device, dtype=next(model.parameters()).dtype),
                    shown.shape[1],
                    generator=torch.Generator().manual_seed(seed),
                )
            rows = {"input": shown, "reconstruction": recon}
            plot = plot_clouds(rows, folder.file(PLOT), titles=_titles(test, indices))
            if plot is None:
                print(
                    f"({PLOT} skipped: matplotlib is not installed; "
                    'pip install "hyperfunc-pointclouds[plot]")',
                    file=sys.stderr,
                )
        kinds = ", ".join(f"{k} {v['after']:.4g}" for k, v in per_kind.items())
        print(
            f"{type(model).__name__}: test Chamfer {after['chamfer']:.4g} (at initialisation "
            f"{before['chamfer']:.4g}) over {after['num_clouds']} clouds"
            + (f"; {kinds}" if kinds else "")
        )
        return {
            "chamfer_before": before["chamfer"],
            "chamfer_after": after["chamfer"],
            "per_kind": per_kind,
            "test_clouds": after["num_clouds"],
            "eval_samples": after["n_samples"],
            **extra,
            "plot": None if plot is None else PLOT,
        }

    return finish


def fit(
    model: HyperCloud,
    data: Clouds,
    config: PointCloudConfig | None = None,
    *,
    test: Clouds | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``model`` to reconstruct the clouds of ``data`` through :func:`hyperfunc.run.train`.

    One phase of ``config.steps`` Adam steps; each step takes ``config.batch_size``
    different clouds at random (all of them when there are fewer), drawn from the
    run's generator, and one step on :meth:`HyperCloud.loss`, whose ball samples
    come from torch's global random state. :func:`hyperfunc.run.train` seeds both
    with ``config.seed`` (so the global random state changes) and restores both on
    resume, so a resumed run equals an uninterrupted one. This is what ``hyperfunc
    run --method hypercloud`` runs, without its data loading.

    With ``test``, the final evaluation (:func:`evaluate`, seeded with
    ``config.seed``) gives the test Chamfer distance at initialisation and after
    training, per shape kind for a :class:`ShapeClouds`, and with ``out`` writes
    ``reconstructions.png`` (the first 8 test clouds above their reconstructions;
    skipped without matplotlib).

    Args:
        model: the :class:`HyperCloud` to train (in place, on ``config.device``).
        data: the training clouds, a :class:`ShapeClouds` or a tensor ``[K, N, 3]``.
        config: the settings (:class:`PointCloudConfig`; default ``PointCloudConfig()``).
        test: test clouds to evaluate after training (``None``: no evaluation).
        out, resume, overwrite, identity: as for :func:`hyperfunc.run.train` (a run
            folder with checkpoints, ``metrics.jsonl``, ``model.pt``, ``results.json``).

    Returns:
        :func:`hyperfunc.run.train`'s results: ``steps_done``, the phase record,
        settings, timings and, with ``test``, ``chamfer_before``, ``chamfer_after``,
        ``per_kind`` (``{kind: {"before", "after", "num_clouds"}}``), ``test_clouds``,
        ``eval_samples``, ``train_clouds``, ``num_points`` and ``plot``.

    Examples:
        >>> from hyperfunc_pointclouds import HyperCloud, PointCloudConfig, fit, shapes
        >>> model = HyperCloud(dim=16, hypernet_hidden=(32,))
        >>> config = PointCloudConfig(steps=3, batch_size=2, progress=False)
        >>> test = shapes(5, 64, seed=1)
        >>> results = fit(model, shapes(5, 64), config, test=test)  # doctest: +ELLIPSIS
        HyperCloud: test Chamfer ... over 5 clouds; sphere ...
        >>> results["steps_done"], results["test_clouds"]
        (3, 5)
    """
    if not isinstance(model, HyperCloud):
        raise TypeError(
            f"fit: model must be a HyperCloud, got {type(model).__name__}; build one with "
            "HyperCloud(dim=...)"
        )
    config = PointCloudConfig() if config is None else config
    if not isinstance(config, PointCloudConfig):
        raise TypeError(
            f"fit: config must be a PointCloudConfig, got {type(config).__name__}; e.g. "
            "PointCloudConfig(steps=500, batch_size=16)"
        )
    if config.num_points is not None or config.test_fraction is not None:
        raise ValueError(
            "fit: config.num_points and config.test_fraction split --data files in hyperfunc "
            "run; fit trains on the clouds it is given, so leave them None"
        )
    points = check_clouds("fit", "data", _points(data))
    if points.shape[0] == 0:
        raise ValueError("fit: data holds no clouds (shape [0, N, 3]); pass at least one")
    finish = None
    if test is not None:
        test_points = check_clouds("fit", "test", _points(test))
        if test_points.shape[0] == 0:
            raise ValueError("fit: test holds no clouds (shape [0, N, 3]); pass at least one")
        extra = {"train_clouds": int(points.shape[0]), "num_points": int(points.shape[1])}
        finish = _finish(model, copy.deepcopy(model), test, config, extra)
    ident = {
        "train": list(points.shape),
        "test": None if test is None else list(_points(test).shape),
        **(identity or {}),
    }
    return train_run(
        model,
        [_phase(model, points, config.batch_size or 16)],
        config,
        out=out,
        resume=resume,
        overwrite=overwrite,
        identity=ident,
        finish=finish,
    )


def _from_task(request: Request) -> tuple[Clouds, Clouds, dict[str, Any]]:
    """Training and test clouds of the task, drawn with different seeds."""
    config = request.config
    assert isinstance(config, PointCloudConfig)
    given = [
        flag
        for flag, value in (
            ("--num-points", config.num_points),
            ("--test-fraction", config.test_fraction),
        )
        if value is not None
    ]
    if given:
        raise UsageError(
            f"{' and '.join(given)}: for --data only; the task {request.tasks!r} draws separate "
            "test clouds, and takes its sizes as task arguments (e.g. --task-arg num_points=512)"
        )
    factory = hyperfunc.tasks.get(request.tasks)
    check_kwargs(factory, request.task_args, "--task-arg", f"task {request.tasks!r}", ("seed",))
    if not accepts(factory, "seed"):
        raise ValueError(
            f"task {request.tasks!r} takes no seed, so it can't draw test clouds apart from the "
            "training ones; use a task such as 'shapes', or --data PATH"
        )
    train_seed, test_seed = 2 * config.seed, 2 * config.seed + 1  # never shared between seeds
    clouds = []
    for seed in (train_seed, test_seed):
        got = factory(**request.task_args, seed=seed)
        if not isinstance(got, (ShapeClouds, Tensor)):
            raise ValueError(
                f"task {request.tasks!r} gives {type(got).__name__}, not point clouds (a "
                "ShapeClouds or a [K, N, 3] tensor); the pointclouds family runs on tasks such "
                "as 'shapes', or on --data PATH"
            )
        clouds.append(got)
    source = {"data": request.tasks, "train_seed": train_seed, "test_seed": test_seed}
    return clouds[0], clouds[1], source


def _from_files(request: Request) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """The clouds of ``--data``, split into training and test clouds by a seeded permutation."""
    config = request.config
    assert isinstance(config, PointCloudConfig) and request.data is not None
    if request.task_args:
        raise UsageError(
            "--task-arg: with --data the clouds come from its .npy files, not from a task; "
            "drop --task-arg (use --num-points to subsample them)"
        )
    try:
        clouds = load_point_clouds(request.data, num_points=config.num_points, seed=config.seed)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--data: {exc}") from None
    k = clouds.shape[0]
    if k < 2:
        raise UsageError(
            f"--data: {request.data!r} holds {k} cloud; at least 2 are needed, to hold some out "
            "for testing"
        )
    fraction = _TEST_FRACTION if config.test_fraction is None else config.test_fraction
    k_test = min(k - 1, max(1, round(k * fraction)))
    order = torch.randperm(k, generator=torch.Generator().manual_seed(config.seed))
    test_index, train_index = order[:k_test].sort().values, order[k_test:].sort().values
    source = {
        "data": os.path.abspath(request.data),
        "test_fraction": fraction,
        "test_indices": test_index.tolist(),
    }
    return clouds[train_index], clouds[test_index], source


class PointCloudFamily(Family):
    """Point clouds: train a HyperCloud to reconstruct clouds (one phase), then test Chamfer.

    ``hyperfunc run --method hypercloud`` trains on the ``shapes`` task (training
    and test clouds drawn with seeds ``2·seed`` and ``2·seed + 1``; their sizes are
    ``--task-arg num_clouds=…``, ``--task-arg num_points=…``) or on ``--data PATH``
    (``.npy`` files read by :func:`load_point_clouds`, a seeded ``--test-fraction``
    held out). The model is ``HyperCloud(**method_args)`` (``--method-arg dim=64``).
    The results hold the test Chamfer distance at initialisation and after
    training (per shape kind for a task's clouds); the run folder also gets
    ``reconstructions.png``.
    """

    name = "pointclouds"
    config = PointCloudConfig
    default_tasks = "shapes"

    def build(self, request: Request) -> Plan:
        """Load the clouds, build the HyperCloud and return the run's plan (one phase)."""
        config = request.config
        assert isinstance(config, PointCloudConfig)
        cls = request.method_cls
        if not (isinstance(cls, type) and issubclass(cls, HyperCloud)):
            raise ValueError(
                f"method {request.method!r} is a {getattr(cls, '__name__', cls)!r}, not a "
                "HyperCloud; the pointclouds family trains HyperCloud models"
            )
        if request.target is not None or request.target_args:
            raise UsageError(
                "--target / --target-arg: HyperCloud builds its own hypercloud target; set its "
                "widths with --method-arg target_hidden=[32,64,128,64]"
            )
        check_kwargs(cls, request.method_args, "--method-arg", f"method {request.method!r}")
        if request.data is None:
            train, test, source = _from_task(request)
            indices = None
        elif request.tasks_given:
            raise UsageError(
                f"--tasks {request.tasks}: with --data the clouds come from the .npy files; "
                "drop --tasks"
            )
        else:
            train, test, source = _from_files(request)
            indices = list(source["test_indices"])
        where = f"task {request.tasks!r}" if request.data is None else "--data"
        points = check_clouds(where, "training clouds", _points(train))
        check_clouds(where, "test clouds", _points(test))
        model: HyperCloud = cls(**request.method_args)
        extra = {"train_clouds": int(points.shape[0]), "num_points": int(points.shape[1]), **source}
        size = sum(p.numel() for p in model.parameters())
        return Plan(
            method=model,
            phases=[_phase(model, points, config.batch_size or 16)],
            finish=_finish(model, copy.deepcopy(model), test, config, extra, indices),
            identity={
                "data": source,
                "train": list(points.shape),
                "test": list(_points(test).shape),
            },
            summary=(
                f"{request.method} ({size:,} parameters) on {points.shape[0]} training and "
                f"{_points(test).shape[0]} test clouds of {points.shape[1]} points "
                f"({source['data']})"
            ),
        )
