"""HyperMAML (Przewięźlikowski et al. 2022): a hypernetwork replaces MAML's inner gradient steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hyperfunc._target import Target, stateless
from hyperfunc.fewshot._batch import EpisodeBatch
from hyperfunc.fewshot._checks import check_positive
from hyperfunc.fewshot._method import Batch, FewShotMethod, by_label, check_episode_shape
from hyperfunc.hypernets import MLPHyperNet
from hyperfunc.inner import check_rate

__all__ = ["HyperMAML"]


class HyperMAML(FewShotMethod):
    """HyperMAML: the classifier head's update is generated from the support set in one forward pass.

    The backbone (``target``, e.g. ``conv4(num_classes=0)``; weights in
    :attr:`~hyperfunc.fewshot.FewShotMethod.theta`) embeds the support and query sets
    of the whole meta-batch in one call. A linear head ``feature_dim → n_way`` (:attr:`head`, a stateless
    target) has universal weights (:attr:`head_params`). For each episode the
    support examples, in label order, are each described by
    ``[features, softmax(head(features)), one_hot(label)]`` (the predictions
    detached, as in the authors' code). With ``per_class=True`` (the default, the
    authors' "class batch input") one hypernetwork
    (:attr:`hypernet`, an :class:`~hyperfunc.hypernets.MLPHyperNet`) reads the
    ``k_shot`` vectors of a class and generates the update of that class's row
    of the head (weights and bias), the same network for every class; with
    ``per_class=False`` it reads all ``n_way·k_shot`` vectors and generates the
    whole update. The adapted head is ``θ_head + Δ``; Δ starts at zero. Queries are classified by the
    adapted head. Everything (backbone, universal head, hypernetwork) is trained by
    the outer loop on the query loss; there are no inner gradient steps.

    **Prototype head.** With ``head_init="prototypes"`` the head the update is
    added to is not universal but built from each episode's support set, as in
    Proto-MAML (Triantafillou et al. 2020): row ``c`` is ``2·μ_c`` with bias
    ``−‖μ_c‖²`` (``μ_c`` the mean support embedding of class ``c``), the linear
    form of ProtoNets' squared-distance classifier, so training starts from
    ProtoNets and the hypernetwork learns a correction. This departs from the
    paper (whose head is universal, the default ``"learned"``); it learns faster.

    **Warm-up.** With ``warmup_steps > 0`` the update is a blend
    ``α·Δ_hyper + (1 − α)·Δ_MAML`` where ``Δ_MAML = −inner_lr·∇ L_support`` is one
    MAML step on the head (its cross-entropy gradient, in closed form, so it is
    second order through the backbone) and ``α`` rises linearly from 0 to 1 over
    the first ``warmup_steps`` training calls of :meth:`loss` (counted in the
    buffer ``steps_done``, saved with the state dict).

    Args:
        target: the backbone; its flattened output has ``feature_dim`` features.
        n_way, k_shot: the episodes' shape (the hypernetwork's input size depends on it);
            for regression (``loss="mse"``) ``n_way`` is the number of target values
            (1 for sinusoids) and ``k_shot`` the support points per task.
        feature_dim: the backbone's output size (see
            :func:`~hyperfunc.fewshot.feature_size`).
        hidden: the hypernetwork's hidden widths.
        per_class: generate each class's row from that class's shots (shared
            generator), or the whole head from the whole support set; default
            ``True`` for classification, and regression needs ``False``.
        warmup_steps: training calls over which the MAML step is blended out (0: none).
        inner_lr: the learning rate of the warm-up's MAML step.
        loss: ``"cross_entropy"`` (N-way episodes) or ``"mse"`` (regression: each
            support point is described by ``[features, prediction, y]``).
        support_loss: in training, score the adapted head on the support set too
            (the authors' ``hm_support_set_loss``).
        head_init: ``"learned"`` (a universal head, the paper's) or
            ``"prototypes"`` (a per-episode prototype head; classification only).
        params: the backbone's initial weights; default ``target.init_params()``.

    Attributes:
        head: the linear head ``feature_dim → n_way``, a stateless :class:`~hyperfunc.Target`.
        head_params: its universal weights, an ``nn.ParameterDict``.
        hypernet: the :class:`~hyperfunc.hypernets.MLPHyperNet` that generates the head's update.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import Episodes, HyperMAML
        >>> backbone = hf.stateless(hf.targets.mlp(8, 16, hidden=(32,)))
        >>> method = HyperMAML(backbone, n_way=5, k_shot=1, feature_dim=16, hidden=(64,))
        >>> batch = Episodes(torch.randn(10, 6, 8), n_way=5, k_shot=1, q_query=3, batch_size=4).batch(0)
        >>> method.adapted_head(batch)["weight"].shape    # one head per episode
        torch.Size([4, 5, 16])
        >>> loss, logs = method.loss(batch)
        >>> loss.backward()
        >>> method.predict(batch).shape
        torch.Size([4, 15, 5])
    """

    def __init__(
        self,
        target: Target,
        n_way: int,
        k_shot: int,
        feature_dim: int,
        hidden: Sequence[int] = (256, 256),
        *,
        per_class: bool | None = None,
        warmup_steps: int = 0,
        inner_lr: float = 0.01,
        loss: str = "cross_entropy",
        support_loss: bool = False,
        head_init: str = "learned",
        params: Mapping[str, Tensor] | None = None,
    ) -> None:
        super().__init__(target, params, loss=loss)
        self.support_loss = bool(support_loss)
        if head_init not in ("learned", "prototypes"):
            raise ValueError(f"head_init must be 'learned' or 'prototypes', got {head_init!r}")
        if head_init == "prototypes" and self.regression:
            raise ValueError(
                "head_init='prototypes' builds the head from class means, but loss='mse' regresses "
                "(no classes); use head_init='learned'"
            )
        self.head_init = head_init
        if per_class is None:
            per_class = not self.regression
        if per_class and self.regression:
            raise ValueError(
                "per_class=True generates one head row per class, but loss='mse' regresses (no "
                "classes); use per_class=False (the default for regression)"
            )
        check_positive(n_way=n_way, k_shot=k_shot, feature_dim=feature_dim)
        if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}")
        check_rate(inner_lr, "inner_lr")
        self.n_way, self.k_shot, self.feature_dim = n_way, k_shot, feature_dim
        self.warmup_steps, self.inner_lr = warmup_steps, float(inner_lr)
        self.hidden, self.per_class = tuple(int(h) for h in hidden), bool(per_class)
        self.head = stateless(nn.Linear(feature_dim, n_way))
        # the universal head (none with prototype heads: each episode builds its own)
        self.head_params = nn.ParameterDict(
            {} if head_init == "prototypes"
            else {n: nn.Parameter(p) for n, p in self.head.init_params().items()}
        )
        per_example = feature_dim + 2 * n_way
        if self.per_class:  # one generator shared by the classes: a row of the head from a class's shots
            row = stateless(nn.Linear(feature_dim, 1))
            self.hypernet = MLPHyperNet(row, k_shot * per_example, hidden=self.hidden)
        else:  # the whole head from the whole support set
            self.hypernet = MLPHyperNet(self.head, n_way * k_shot * per_example, hidden=self.hidden)
        with torch.no_grad():  # the update starts at zero: the adapted head starts as the universal one
            self.hypernet.head.weight.zero_()
            self.hypernet.head.bias.zero_()
            self.hypernet.offset.zero_()
        self.steps_done: Tensor
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    def describe(self) -> dict[str, Any]:
        """Hyperparameters for a results file."""
        return {
            "n_way": self.n_way, "k_shot": self.k_shot, "feature_dim": self.feature_dim,
            "hidden": list(self.hidden), "per_class": self.per_class,
            "warmup_steps": self.warmup_steps, "inner_lr": self.inner_lr, "loss": self.loss_name,
            "support_loss": self.support_loss, "head_init": self.head_init,
        }

    @property
    def blend(self) -> float:
        """The hypernetwork's share ``α`` of the update now (1 after the warm-up)."""
        if self.warmup_steps == 0:
            return 1.0
        return min(1.0, int(self.steps_done) / self.warmup_steps)

    def _features(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """Support features and labels (in label order for classification), and query features."""
        self.check_batch(batch)
        n_s = batch.x_support.shape[1]
        if isinstance(batch, EpisodeBatch) and not self.regression:
            check_episode_shape(type(self).__name__, batch, self.n_way, self.k_shot)
        elif n_s != self.k_shot or batch.y_support.shape[-1] != self.n_way:
            raise ValueError(
                f"HyperMAML was built for {self.k_shot}-shot regression with {self.n_way} output(s) "
                f"(k_shot, n_way), but the batch has {n_s} support points with "
                f"{batch.y_support.shape[-1]} target value(s); build it with k_shot={n_s}, "
                f"n_way={batch.y_support.shape[-1]}"
            )
        emb = self.embed(torch.cat([batch.x_support, batch.x_query], 1))
        if emb.shape[-1] != self.feature_dim:
            raise ValueError(
                f"the backbone outputs {emb.shape[-1]} features but HyperMAML was built with "
                f"feature_dim={self.feature_dim}; pass feature_dim={emb.shape[-1]} "
                "(hyperfunc.fewshot.feature_size(target, example_shape) computes it)"
            )
        if self.regression:
            return emb[:, :n_s], batch.y_support, emb[:, n_s:]
        support, labels = by_label(emb[:, :n_s], batch.y_support)
        return support, labels, emb[:, n_s:]

    def _base_head(self, support: Tensor) -> dict[str, Tensor]:
        """The head the update is added to: universal, or each episode's prototype head."""
        if self.head_init == "learned":
            return dict(self.head_params)
        # support is in label order: [B, N*K, D] -> class means [B, N, D]
        protos = support.reshape(support.shape[0], self.n_way, self.k_shot, -1).mean(2)
        return {"weight": 2.0 * protos, "bias": -(protos * protos).sum(-1)}

    def _head_from(self, support: Tensor, labels: Tensor) -> dict[str, Tensor]:
        base = self._base_head(support)
        # [B, S, N]: the base head's predictions (one head for all episodes, or one each)
        out = self.head(base, support) if self.head_init == "learned" else self.head.batched(base, support)
        if self.regression:  # predictions and targets as they are
            probs, onehot = out, labels
        else:
            probs = torch.softmax(out, -1)
            onehot = torch.nn.functional.one_hot(labels, self.n_way).to(out.dtype)
        z = torch.cat([support, probs.detach(), onehot], -1)  # [B, S, D + 2N], S in label order
        if self.per_class:
            rows = self.hypernet(z.reshape(z.shape[0], self.n_way, -1))  # [B, N, 1, D] and [B, N, 1]
            delta = {"weight": rows["weight"].squeeze(2), "bias": rows["bias"].squeeze(2)}
        else:
            delta = self.hypernet(z.flatten(1))
        alpha = self.blend
        if alpha >= 1.0:
            return {n: base[n] + delta[n] for n in base}
        # one MAML step on the head, gradient in closed form: dL/dW = e ᵀ f, dL/db = Σ e with
        # e = (p − y) / n for softmax cross-entropy and 2 (ŷ − y) / (n·outputs) for the mean squared error
        err = (probs - onehot) / support.shape[1]
        if self.regression:
            err = 2.0 * err / self.n_way
        grad = {"weight": err.transpose(1, 2) @ support, "bias": err.sum(1)}
        return {n: base[n] + alpha * delta[n] - (1.0 - alpha) * self.inner_lr * grad[n] for n in base}

    def adapted_head(self, batch: Batch) -> dict[str, Tensor]:
        """The head's weights adapted to each episode, every tensor ``[B, ...]``."""
        support, labels, _ = self._features(batch)
        return self._head_from(support, labels)

    def predict(self, batch: Batch) -> Tensor:
        """Query outputs under each episode's adapted head: logits ``[B, N*Q, N]`` (or values)."""
        support, labels, query = self._features(batch)
        out: Tensor = self.head.batched(self._head_from(support, labels), query)
        return out

    def loss(self, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """The query loss; in training mode each call also advances the warm-up by one step.

        With ``support_loss=True``, in training mode the loss is taken over the support
        and query examples together (the adapted head must also fit the support set
        it was generated from); evaluation always scores the queries only.
        """
        if self.training and self.support_loss:
            support, labels, query = self._features(batch)
            out = self.head.batched(self._head_from(support, labels), torch.cat([support, query], 1))
            y = torch.cat([labels, batch.y_query], 1)
            n_s = support.shape[1]
            if self.regression:
                loss = torch.nn.functional.mse_loss(out, y)
                logs = {"loss": float(loss.detach())}
            else:
                loss = torch.nn.functional.cross_entropy(out.flatten(0, 1), y.flatten())
                acc = (out[:, n_s:].detach().argmax(-1) == batch.y_query).float().mean()
                logs = {"loss": float(loss.detach()), "accuracy": float(acc)}
        else:
            loss, logs = super().loss(batch)
        if self.warmup_steps:
            logs["blend"] = self.blend
        if self.training:
            self.steps_done += 1
        return loss, logs
