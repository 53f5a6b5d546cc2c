"""Few-shot learning on the run layer: one meta-training phase, then ≥ 600 test episodes."""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import torch
from torch import nn

import hyperfunc
import hyperfunc.distributed as hd
from hyperfunc._progress import progress
from hyperfunc._target import stateless
from hyperfunc.fewshot._episodes import Episodes
from hyperfunc.fewshot._method import Batch, FewShotMethod, feature_size
from hyperfunc.fewshot._plot import drawable, plot_episode
from hyperfunc.run import (
    Family,
    Phase,
    Plan,
    Request,
    RunConfig,
    RunFolder,
    accepts,
    at_least,
    build_target,
    check_kwargs,
    option,
)
from hyperfunc.run import train as train_run

__all__ = ["FewShotConfig", "FewShotFamily", "Sampler", "run_fewshot", "evaluate"]


class Sampler(Protocol):
    """Anything with ``batch(i)``: meta-batch ``i`` as a pure function of ``i`` (Episodes, Sinusoid).

    What :func:`run_fewshot` trains on and :func:`evaluate` scores on.

    Attributes:
        batch_size: episodes per meta-batch.
    """

    batch_size: int

    def batch(self, index: int) -> Batch:
        """Meta-batch ``index``: an :class:`~hyperfunc.fewshot.EpisodeBatch` or a
        :class:`~hyperfunc.fewshot.SinusoidBatch`."""


@attrs.frozen(kw_only=True)
class FewShotConfig(RunConfig):
    """:class:`~hyperfunc.run.RunConfig` for few-shot learning (``steps``: meta-batches).

    Attributes:
        steps: meta-training steps (default 1000).
        test_episodes: test episodes to score.
    """

    steps: int = option(1000, "meta-training steps (one meta-batch each)", at_least(1))
    test_episodes: int = option(600, "test episodes to score", at_least(1))


#: The feature size of an ``mlp`` backbone when ``--target-arg out_features`` is not given.
FEATURES = 64
#: The picture of the first test episode a run folder gets (:func:`~hyperfunc.fewshot.plot_episode`).
EPISODE = "episode.png"


def evaluate(
    method: FewShotMethod,
    test: Sampler,
    episodes: int,
    *,
    show_progress: bool = False,
    device: torch.device | str = "cpu",
) -> tuple[float, float]:
    """Mean per-episode score over the first ``episodes`` test episodes, and its 95 % half-width.

    The score is :meth:`FewShotMethod.accuracy` (a fraction in ``[0, 1]``; for
    regression methods the query MSE). The interval is ``1.96 · std / √n`` over
    the ``n`` episodes (sample standard deviation; 0 for a single episode).
    Exactly ``episodes`` episodes are scored (the last meta-batch is cut).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import Episodes, ProtoNets, evaluate
        >>> net = ProtoNets(hf.stateless(hf.targets.mlp(8, 16, hidden=(32,))))
        >>> episodes = Episodes(torch.randn(10, 6, 8), n_way=5, k_shot=1, q_query=3, batch_size=4)
        >>> mean, ci95 = evaluate(net, episodes, episodes=6)
        >>> 0.0 <= mean <= 1.0 and ci95 >= 0.0
        True
    """
    if not isinstance(method, FewShotMethod):
        raise TypeError(f"evaluate needs a FewShotMethod (ProtoNets, MAML, ...), got {type(method).__name__}")
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    world = hd.current()  # under torchrun each process scores its share of the meta-batches
    batches = range(math.ceil(episodes / test.batch_size))
    batches = batches[hd.share(len(batches))]
    scores = [torch.zeros(0, dtype=torch.float64)]
    for j in progress(len(batches), "test episodes", show_progress and world.main):
        scores.append(method.accuracy(test.batch(batches[j]).to(device)).detach().double().cpu())
    s = hd.gather(torch.cat(scores))[:episodes]
    ci = 1.96 * float(s.std()) / math.sqrt(s.numel()) if s.numel() > 1 else 0.0
    return float(s.mean()), ci


def _phases(train: Sampler) -> list[Phase]:
    return [Phase("meta-train", lambda step, g: train.batch(step))]


def _finish(
    method: FewShotMethod, test: Sampler, config: FewShotConfig
) -> Callable[[list[dict[str, Any]], RunFolder | None], Mapping[str, Any]]:
    def finish(records: list[dict[str, Any]], folder: RunFolder | None) -> Mapping[str, Any]:
        mean, ci = evaluate(
            method, test, config.test_episodes, show_progress=config.progress, device=config.device
        )
        metric = "mse" if method.regression else "accuracy"
        scale, unit = (1.0, "") if method.regression else (100.0, " %")
        print(
            f"{type(method).__name__}: test {metric} {scale * mean:.4g} ± {scale * ci:.2g}{unit} over "
            f"{config.test_episodes} episodes"
        )
        if folder is not None:  # rank 0: the first test episode and the predictions on it
            first = test.batch(0)
            drawn = plot_episode(method, first, folder.file(EPISODE))
            if drawn is None and drawable(first, method.regression):
                print(f"(install matplotlib, e.g. pip install 'torch-hyperfunc[plot]', for {EPISODE})")
        return {
            "metric": metric,
            "test_mean": mean,
            "test_ci95": ci,
            "test_episodes": config.test_episodes,
            "method_settings": method.describe(),
        }

    return finish


def run_fewshot(
    method: FewShotMethod,
    train: Sampler,
    test: Sampler,
    config: FewShotConfig | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    identity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Meta-train ``method`` on ``train``'s meta-batches through :func:`hyperfunc.run.train`, then test it.

    Step ``i`` uses ``train.batch(i)``, so a resumed run sees the same batches as
    an uninterrupted one. ``out``, ``resume`` and ``overwrite`` are
    :func:`~hyperfunc.run.train`'s; the run folder also gets ``episode.png``, the
    first test episode drawn by :func:`~hyperfunc.fewshot.plot_episode`, for image
    episodes and sinusoid tasks when matplotlib is installed.

    Returns:
        The results: test mean and 95 % half-width (accuracy in ``[0, 1]``, or the
        query MSE for regression) over ``config.test_episodes`` episodes, steps
        done, timings, settings.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import Episodes, FewShotConfig, ProtoNets, run_fewshot
        >>> data = torch.randn(20, 8, 6)
        >>> train = Episodes(data[:12], n_way=3, k_shot=1, q_query=2, batch_size=4)
        >>> test = Episodes(data[12:], n_way=3, k_shot=1, q_query=2, batch_size=10, seed=1)
        >>> method = ProtoNets(hf.stateless(hf.targets.mlp(6, 8, hidden=(16,))))
        >>> config = FewShotConfig(steps=5, test_episodes=15, progress=False)
        >>> results = run_fewshot(method, train, test, config)  # doctest: +ELLIPSIS
        ProtoNets: test accuracy ... over 15 episodes
        >>> results["test_episodes"], results["steps_done"]
        (15, 5)
    """
    if not isinstance(method, FewShotMethod):
        raise TypeError(f"run_fewshot needs a FewShotMethod, got {type(method).__name__}")
    config = FewShotConfig() if config is None else config
    if config.batch_size is not None and config.batch_size != train.batch_size:
        raise ValueError(
            f"config.batch_size={config.batch_size} but the training sampler draws "
            f"{train.batch_size} episodes per meta-batch; set the sampler's batch_size instead"
        )
    ident = {
        "train": repr(train),
        "test": repr(test),
        "spec": repr(method.target.spec),
        "method_settings": method.describe(),
        **(identity or {}),
    }
    return train_run(
        method,
        _phases(train),
        config,
        out=out,
        resume=resume,
        overwrite=overwrite,
        identity=ident,
        finish=_finish(method, test, config),
    )


class FewShotFamily(Family):
    """Few-shot learning: meta-train on episodes (one phase), then score test episodes."""

    name = "fewshot"
    config = FewShotConfig
    default_tasks = "omniglot"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--test-task-arg",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="task argument for the test sampler only (e.g. q_query=15); repeatable",
        )

    def _sampler(
        self, factory: Callable[..., Any], request: Request, extra: Mapping[str, Any], test: bool
    ) -> Any:
        kw: dict[str, Any] = {}
        if accepts(factory, "root") and request.data is not None:
            kw["root"] = request.data
        if accepts(factory, "split"):
            kw["split"] = "evaluation" if test else "background"
        if request.config.batch_size is not None and accepts(factory, "batch_size"):
            kw["batch_size"] = request.config.batch_size
        if accepts(factory, "seed"):
            kw["seed"] = request.config.seed + (
                10_000 if test else 0
            )  # test episodes never repeat training ones
        kw.update(extra)
        return factory(**kw)

    def build(self, request: Request) -> Plan:
        from hyperfunc.run import parse_assignments

        assert isinstance(request.config, FewShotConfig)
        method_cls, target_args = request.method_cls, dict(request.target_args)
        test_args = {
            **request.task_args,
            **parse_assignments(request.options["test_task_arg"], "--test-task-arg"),
        }
        factory = hyperfunc.tasks.get(request.tasks)
        check_kwargs(
            factory,
            {**request.task_args, **test_args},
            "--task-arg",
            f"task {request.tasks!r}",
            ("root", "split", "seed"),
        )
        train = self._sampler(factory, request, request.task_args, test=False)
        test = self._sampler(factory, request, test_args, test=True)
        if not hasattr(train, "batch") or not hasattr(train, "k_shot"):
            raise ValueError(
                f"task {request.tasks!r} gives {type(train).__name__}, not a few-shot sampler (Episodes, "
                f"Sinusoid); few-shot methods run on tasks such as 'omniglot' or 'sinusoid'"
            )
        episodic = isinstance(train, Episodes)
        example_shape = train.example_shape if episodic else tuple(train.batch(0).x_support.shape[2:])
        features = getattr(method_cls, "backbone_output", "features") == "features"
        outputs = (0 if features else train.n_way) if episodic else int(train.batch(0).y_support.shape[-1])
        target_name = request.target or str(getattr(method_cls, "default_target", "mlp"))
        target_factory = hyperfunc.targets.get(target_name)
        tparams = inspect.signature(target_factory).parameters
        if features and "num_classes" not in tparams and "out_features" not in target_args:
            if "out_features" not in tparams:
                raise ValueError(
                    f"{request.method} uses the target {target_name!r} as a feature extractor, but it takes "
                    "neither num_classes nor out_features; use --target mlp or --target conv4"
                )
            target_args["out_features"] = FEATURES  # a feature extractor of the default size

        module, flat = build_target(target_factory, example_shape, outputs, target_args)
        if flat and len(example_shape) > 1:
            module = nn.Sequential(nn.Flatten(), module)
        target = stateless(module)
        mparams = inspect.signature(method_cls).parameters
        kw: dict[str, Any] = {}
        if not episodic and "loss" not in mparams:
            raise ValueError(
                f"{request.method} classifies N-way episodes and task {request.tasks!r} is regression; "
                "use a method that also regresses (maml, hypermaml) or an episodic task (omniglot)"
            )
        if "n_way" in mparams:  # regression: n_way is the number of outputs
            kw["n_way"], kw["k_shot"] = (train.n_way, train.k_shot) if episodic else (outputs, train.k_shot)
        if "feature_dim" in mparams:
            kw["feature_dim"] = feature_size(target, example_shape)
        if "loss" in mparams and not episodic:
            kw["loss"] = "mse"
        check_kwargs(
            method_cls, request.method_args, "--method-arg", f"method {request.method!r}", ("target",)
        )
        kw.update(request.method_args)
        method = method_cls(target, **kw)
        return Plan(
            method=method,
            phases=_phases(train),
            finish=_finish(method, test, request.config),
            identity={
                "train": repr(train),
                "test": repr(test),
                "spec": repr(target.spec),
                "target_name": target_name,
                "test_task_args": test_args,
            },
            summary=f"{request.method} on {train!r}, test {test!r}, target {target_name} {target!r}",
        )
