"""MAML (Finn et al. 2017): meta-learn an initialisation that adapts with a few gradient steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

import hyperfunc.inner
from hyperfunc._param_dict import dotted, parameter_dict
from hyperfunc._target import Target
from hyperfunc.fewshot._batch import EpisodeBatch
from hyperfunc.fewshot._method import Batch, FewShotMethod
from hyperfunc.inner import (
    InnerOptimizer,
    MetaSGD,
    adapt_batched,
    check_loop_options,
    check_rate,
    select_params,
)

__all__ = ["MAML"]

_HEAD = """\
the target's output has {got} features, but {what}. {fix}"""


class MAML(FewShotMethod):
    """MAML and first-order MAML, adapting every episode of a meta-batch in one batched call.

    The meta-parameters :attr:`~hyperfunc.fewshot.FewShotMethod.theta` (an
    ``nn.ParameterDict``, initialised from ``target.init_params()`` unless ``params`` is
    given) are adapted to each episode's support set with ``inner_steps`` steps of SGD (or Meta-SGD, or Adam)
    (:func:`hyperfunc.inner.adapt_batched`: vectorised over the episodes, second
    order unless ``first_order=True``); the loss is the query loss at the adapted
    weights, whose gradient with respect to
    :attr:`~hyperfunc.fewshot.FewShotMethod.theta` is the meta-gradient.

    Classification (``loss="cross_entropy"``) needs an N-way head: the target's
    output size must equal the episodes' ``n_way`` (``conv4(num_classes=5)`` for
    5-way). Regression (``loss="mse"``, e.g. :class:`~hyperfunc.fewshot.Sinusoid`
    with an MLP 1→40→40→1) needs the output size of the targets ``y``.

    Args:
        target: the network to adapt.
        inner_steps: SGD steps on the support set (0: no adaptation).
        inner_lr: the inner SGD learning rate.
        first_order: drop the second-order terms (FOMAML).
        loss: ``"cross_entropy"`` or ``"mse"``; used in the inner and outer loops.
        params: the initial meta-parameters; default ``target.init_params()``.
        optimizer: the inner optimiser's name in :mod:`hyperfunc.inner` (``"sgd"``;
            ``"meta-sgd"``: Meta-SGD, one learned rate per weight, initialised to
            ``inner_lr`` and held in :attr:`rates`; ``"adam"``: differentiable Adam
            with learning rate ``inner_lr``).
        only: names of the tensors to adapt (e.g. the last layer's, as in ANIL);
            default all. The others keep their meta-learned values.
        vectorize: evaluate the episodes with ``vmap`` (``True``), one after another
            (``False``), or choose (``None``, the default: the loop for convolutional
            targets on a CPU, about twice as fast with ``conv4``:
            ``benchmarks/bench_maml_conv4.py``). Same values and gradients.
        checkpoint, truncate: memory for long inner loops (recompute the steps in
            the backward pass; differentiate through the last ``truncate`` steps
            only): see :func:`hyperfunc.inner.adapt`.
        implicit, cg_steps: iMAML (Rajeswaran et al. 2019): a proximal inner
            problem of strength ``implicit`` and the implicit meta-gradient from
            ``cg_steps`` conjugate-gradient iterations (``--method-arg implicit=1.0``
            on the command line); see :func:`hyperfunc.inner.adapt`.

    Raises:
        SecondOrderError: (from :meth:`~hyperfunc.fewshot.FewShotMethod.loss`) second order
            was asked for through a target that cannot provide it; pass ``first_order=True``.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import MAML, Sinusoid
        >>> target = hf.stateless(hf.targets.mlp(1, 1, hidden=(40, 40)))
        >>> maml = MAML(target, inner_steps=1, inner_lr=0.01, loss="mse")
        >>> batch = Sinusoid(k_shot=10, batch_size=4).batch(0)
        >>> loss, logs = maml.loss(batch)
        >>> loss.backward()                            # second-order meta-gradient
        >>> maml.theta["0/weight"].grad.shape
        torch.Size([40, 1])
        >>> maml.adapted(batch)["0.weight"].shape      # one adapted weight set per task
        torch.Size([4, 40, 1])
    """

    backbone_output: ClassVar[str] = "classes"

    def __init__(
        self,
        target: Target,
        inner_steps: int = 1,
        inner_lr: float = 0.4,
        first_order: bool = False,
        *,
        loss: str = "cross_entropy",
        params: Mapping[str, Tensor] | None = None,
        optimizer: str = "sgd",
        only: Sequence[str] | None = None,
        vectorize: bool | None = None,
        checkpoint: bool = False,
        truncate: int | None = None,
        implicit: float | None = None,
        cg_steps: int = 10,
    ) -> None:
        super().__init__(target, params, loss=loss)
        if not isinstance(inner_steps, int) or isinstance(inner_steps, bool) or inner_steps < 0:
            raise ValueError(f"inner_steps must be an int >= 0, got {inner_steps!r}")
        check_rate(inner_lr, "inner_lr")
        self.inner_steps, self.inner_lr, self.first_order = inner_steps, float(inner_lr), bool(first_order)
        self.optimizer_name, self.vectorize = str(optimizer), vectorize
        self.checkpoint, self.truncate = checkpoint, truncate
        self.implicit, self.cg_steps = implicit, cg_steps
        factory = hyperfunc.inner.get(self.optimizer_name)  # unknown names: a did-you-mean error
        self.only = None if only is None else select_params(self.weights(), only)
        adapted = list(target.spec.names) if self.only is None else self.only
        self._factory = factory
        #: Meta-SGD's learned rates (empty for the other optimisers), keys as in
        #: :attr:`~hyperfunc.fewshot.FewShotMethod.theta`.
        self.rates = nn.ParameterDict()
        if factory is MetaSGD:  # learned per-weight rates, trained by the outer loop with θ
            init = MetaSGD.init_rates({n: self.weights()[n] for n in adapted}, lr=self.inner_lr)
            self.rates = parameter_dict(init, clone=False)
        self._out_sizes: dict[tuple[int, ...], int] = {}
        check_loop_options(  # a bad inner-loop option fails here, not in the middle of training
            self.inner_optimizer(), steps=self.inner_steps, first_order=self.first_order, only=self.only,
            checkpoint=checkpoint, truncate=truncate, implicit=implicit, cg_steps=cg_steps,
        )

    def inner_optimizer(self) -> InnerOptimizer[Any]:
        """The differentiable optimiser of the inner loop (Meta-SGD's reads the current rates)."""
        if self._factory is MetaSGD:
            return MetaSGD(dotted(self.rates))
        opt: InnerOptimizer[Any] = self._factory(lr=self.inner_lr)
        return opt

    def describe(self) -> dict[str, Any]:
        """Hyperparameters for a results file."""
        return {
            "inner_steps": self.inner_steps, "inner_lr": self.inner_lr,
            "first_order": self.first_order, "loss": self.loss_name, "optimizer": self.optimizer_name,
            "only": self.only, "vectorize": self.vectorize, "checkpoint": self.checkpoint,
            "truncate": self.truncate, "implicit": self.implicit, "cg_steps": self.cg_steps,
        }

    def _inner_loss(self, pred: Tensor, y: Tensor) -> Tensor:
        if self.regression:
            return torch.nn.functional.mse_loss(pred, y)
        return torch.nn.functional.cross_entropy(pred, y)

    def _check_head(self, batch: Batch) -> None:
        """Check the target's output size against ``n_way`` (or ``y``), once per example shape."""
        shape = tuple(batch.x_support.shape[2:])
        if shape not in self._out_sizes:
            with torch.no_grad():
                out = self.target({n: p.detach() for n, p in self.weights().items()}, batch.x_support[0])
            self._out_sizes[shape] = int(out.shape[-1])
        got = self._out_sizes[shape]
        if isinstance(batch, EpisodeBatch) and not self.regression and got != batch.n_way:
            raise ValueError(_HEAD.format(
                got=got, what=f"the episodes are {batch.n_way}-way",
                fix=f"Build the target with {batch.n_way} outputs (e.g. conv4(num_classes="
                    f"{batch.n_way})), or sample {got}-way episodes.",
            ))
        if self.regression and got != batch.y_query.shape[-1]:
            raise ValueError(_HEAD.format(
                got=got, what=f"the regression targets y have {batch.y_query.shape[-1]}",
                fix="Give the target one output per target value (out_features=y.shape[-1]).",
            ))

    def adapted(self, batch: Batch) -> dict[str, Tensor]:
        """The weights adapted to each episode's support set, every tensor ``[B, ...]``."""
        self.check_batch(batch)
        self._check_head(batch)
        return adapt_batched(
            self.target, self.weights(), self._inner_loss, batch.x_support, batch.y_support,
            optimizer=self.inner_optimizer(), steps=self.inner_steps, first_order=self.first_order,
            only=self.only, vectorize=self.vectorize, checkpoint=self.checkpoint, truncate=self.truncate,
            implicit=self.implicit, cg_steps=self.cg_steps,
        )

    def predict(self, batch: Batch) -> Tensor:
        """Query predictions ``[B, n_query, out]`` at the adapted weights (logits, or values)."""
        out: Tensor = self.target.batched(self.adapted(batch), batch.x_query, vectorize=self.vectorize)
        return out
