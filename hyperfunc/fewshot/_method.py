"""The interface every few-shot method implements: a query loss and per-episode scores."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

import hyperfunc.distributed as hd
from hyperfunc._param_dict import dotted, parameter_dict
from hyperfunc._target import Target
from hyperfunc.fewshot._batch import EpisodeBatch
from hyperfunc.fewshot._sinusoid import SinusoidBatch

__all__ = [
    "FewShotMethod",
    "Batch",
    "LOSSES",
    "check_loss",
    "check_episode_shape",
    "by_label",
    "feature_size",
]

#: A meta-batch: classification episodes or regression tasks (same four tensor fields).
Batch = EpisodeBatch | SinusoidBatch

#: Query losses a method can be trained with: classification or regression.
LOSSES = ("cross_entropy", "mse")


def check_loss(loss: object) -> str:
    """``loss`` if it is one of :data:`LOSSES`, else a ``ValueError`` naming the choices."""
    if loss in LOSSES:
        return str(loss)
    close = difflib.get_close_matches(str(loss), LOSSES, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown loss {loss!r}: choose 'cross_entropy' (N-way classification, EpisodeBatch) or "
        f"'mse' (regression, e.g. SinusoidBatch){hint}"
    )


class FewShotMethod(nn.Module):
    """Base class of few-shot methods: all trainable state is in this module.

    A method reads a meta-batch (an :class:`~hyperfunc.fewshot.EpisodeBatch` or,
    for regression, a :class:`~hyperfunc.fewshot.SinusoidBatch`), uses each
    episode's support set, and predicts its query set. Subclasses implement
    :meth:`predict`; :meth:`loss` and :meth:`accuracy` follow from it. The
    target's weights are held in :attr:`theta`, an ``nn.ParameterDict`` (keys are
    the parameter names with ``"."`` written as ``"/"``); :meth:`weights` returns
    them under their real names. Train with
    :func:`~hyperfunc.fewshot.run_fewshot`, score with
    :func:`~hyperfunc.fewshot.evaluate`.

    Args:
        target: the stateless target network (the backbone).
        params: its initial weights; default ``target.init_params()``.
        loss: ``"cross_entropy"`` (classification) or ``"mse"`` (regression).

    Attributes:
        target: the stateless target network (the backbone).
        theta: the target's trainable weights, an ``nn.ParameterDict`` (``"."`` in the
            names written as ``"/"``).

    Examples:
        A method that predicts uniform logits scores chance, and its loss is ``log N``:

        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import Episodes, FewShotMethod
        >>> class Uniform(FewShotMethod):
        ...     def predict(self, batch):
        ...         return torch.zeros(*batch.y_query.shape, batch.n_way)
        >>> method = Uniform(hf.stateless(torch.nn.Linear(8, 4)))
        >>> batch = Episodes(torch.randn(10, 6, 8), n_way=4, k_shot=1, q_query=2, batch_size=3).batch(0)
        >>> loss, logs = method.loss(batch)
        >>> round(logs["loss"], 4), method.accuracy(batch).tolist()     # log 4; argmax picks class 0
        (1.3863, [0.25, 0.25, 0.25])
        >>> method.weights().keys(), list(method.theta.keys())
        (dict_keys(['weight', 'bias']), ['weight', 'bias'])
    """

    family: ClassVar[str] = "fewshot"
    #: What `hyperfunc run` builds the target to output: "features" (a backbone) or "classes" (N-way logits).
    backbone_output: ClassVar[str] = "features"

    def __init__(
        self, target: Target, params: Mapping[str, Tensor] | None = None, *, loss: str = "cross_entropy"
    ) -> None:
        super().__init__()
        if not isinstance(target, Target):
            raise TypeError(
                f"target must be a hyperfunc Target, got {type(target).__name__}; wrap the module with "
                "hyperfunc.stateless(module)"
            )
        self.target = target
        self._warned_split = False  # batch norm over a share of the meta-batch (several processes)
        self.loss_name = check_loss(loss)
        init = target.init_params() if params is None else params
        target.spec.validate(init, batch_shape=())
        self.theta = parameter_dict(init)

    def describe(self) -> dict[str, Any]:
        """Hyperparameters for a results file (subclasses add theirs)."""
        return {"loss": self.loss_name}

    @property
    def regression(self) -> bool:
        """Whether the method regresses (``loss="mse"``) rather than classifies."""
        return self.loss_name == "mse"

    def weights(self) -> dict[str, Tensor]:
        """The target weights (the parameters in :attr:`theta`) under their real names."""
        return dotted(self.theta)

    def embed(self, x: Tensor) -> Tensor:
        """Flattened target outputs ``[B, n, D]`` of inputs ``[B, n, ...]``, in one call (shared weights).

        With batch norm in training mode its statistics are taken over all ``B·n``
        inputs (the support and query sets of the whole meta-batch, when they are
        passed together); on several processes (torchrun) over this process's share
        of them, with a one-time warning.
        """
        world = hd.current()
        if self.training and not self._warned_split and world.size > 1 and world.main:
            self._warned_split = True
            if _batch_norm(self.target):
                warnings.warn(
                    f"{type(self).__name__}'s backbone has batch norm, which takes its statistics over the "
                    "episodes of each process's share of the meta-batch, not the whole meta-batch: the run "
                    "differs from one process's (--target-arg norm=layer or norm=instance would not)",
                    stacklevel=2,
                )
        out: Tensor = self.target(self.weights(), x.flatten(0, 1))
        return out.reshape(x.shape[0], x.shape[1], -1)

    def predict(self, batch: Batch) -> Tensor:
        """Query predictions ``[B, n_query, ...]``: logits ``[B, N*Q, n_way]``, or regression outputs."""
        raise NotImplementedError

    def check_batch(self, batch: object) -> None:
        """Raise ``TypeError`` unless ``batch`` fits the method's loss (classes or real targets)."""
        if self.regression:
            if not isinstance(batch, (SinusoidBatch, EpisodeBatch)) or not batch.y_query.is_floating_point():
                raise TypeError(
                    f"{type(self).__name__} with loss='mse' needs a regression batch with real-valued "
                    f"targets (a SinusoidBatch), got {type(batch).__name__}; for N-way episodes use "
                    "loss='cross_entropy'"
                )
        elif not isinstance(batch, EpisodeBatch):
            raise TypeError(
                f"{type(self).__name__} with loss='cross_entropy' needs an EpisodeBatch of N-way "
                f"episodes, got {type(batch).__name__}; for regression tasks use loss='mse'"
            )

    def loss(self, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """The mean query loss over the meta-batch, and numbers to log.

        Every episode has the same number of queries, so the mean over all query
        examples is the mean over episodes of each episode's mean loss.
        """
        pred = self.predict(batch)
        if self.regression:
            loss = torch.nn.functional.mse_loss(pred, batch.y_query)
            return loss, {"loss": float(loss.detach())}
        y = batch.y_query
        loss = torch.nn.functional.cross_entropy(pred.flatten(0, 1), y.flatten())
        acc = (pred.detach().argmax(-1) == y).float().mean()
        return loss, {"loss": float(loss.detach()), "accuracy": float(acc)}

    def accuracy(self, batch: Batch) -> Tensor:
        """Per-episode query scores ``[B]``, without a graph.

        For classification, the fraction of each episode's queries classified
        correctly; for regression (``loss="mse"``), each episode's query mean
        squared error instead (lower is better).
        """
        with torch.no_grad():
            pred = self.predict(batch)
        if self.regression:
            return (pred - batch.y_query).pow(2).flatten(1).mean(1)
        return (pred.argmax(-1) == batch.y_query).float().mean(1)


def check_episode_shape(method: str, batch: EpisodeBatch, n_way: int, k_shot: int) -> None:
    """Raise ``ValueError`` unless ``batch`` has ``n_way`` classes with ``k_shot`` support examples each."""
    n_s = batch.y_support.shape[1]
    if batch.n_way != n_way or n_s != n_way * k_shot:
        raise ValueError(
            f"{method} was built for {n_way}-way {k_shot}-shot episodes (its hypernetwork reads "
            f"{n_way * k_shot} support examples), but the batch is {batch.n_way}-way with {n_s} support "
            f"examples; sample {n_way}-way {k_shot}-shot episodes or build the method with "
            f"n_way={batch.n_way}, k_shot={n_s // max(batch.n_way, 1)}"
        )
    counts = torch.nn.functional.one_hot(batch.y_support, batch.n_way).sum(1)
    if bool((counts != k_shot).any()):
        raise ValueError(
            f"{method} needs exactly k_shot={k_shot} support examples of every class in every episode; "
            f"got per-class counts {counts[(counts != k_shot).any(1)][0].tolist()} in some episode"
        )


def by_label(values: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """``values [B, n, ...]`` and ``labels [B, n]`` reordered so each episode's labels ascend (stable)."""
    order = labels.argsort(dim=1, stable=True)
    idx = order.reshape(*order.shape, *([1] * (values.dim() - 2))).expand_as(values)
    return values.gather(1, idx), labels.gather(1, order)


def feature_size(target: Target, example_shape: tuple[int, ...] | list[int]) -> int:
    """The size of ``target``'s flattened output for one example of ``example_shape``.

    Examples:
        >>> import hyperfunc as hf
        >>> from hyperfunc.fewshot import feature_size
        >>> feature_size(hf.stateless(hf.targets.conv4(num_classes=0)), (1, 28, 28))
        64
    """
    with torch.no_grad():
        params = target.init_params(generator=torch.Generator().manual_seed(0))  # global RNG untouched
        x = torch.zeros(2, *example_shape, dtype=next(iter(params.values())).dtype)
        out: Tensor = target(params, x)
    return int(out[0].numel())


def _batch_norm(target: Target) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in target.module.modules())
