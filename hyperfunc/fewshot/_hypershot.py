"""HyperShot (Sendera et al. 2022): a hypernetwork turns the support kernel matrix into a classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from hyperfunc._target import Target, stateless
from hyperfunc.fewshot._batch import EpisodeBatch
from hyperfunc.fewshot._checks import check_positive
from hyperfunc.fewshot._method import Batch, FewShotMethod, by_label, check_episode_shape
from hyperfunc.hypernets import MLPHyperNet
from hyperfunc.targets import mlp

__all__ = ["HyperShot", "KERNELS", "kernel_matrix"]

#: Kernels between embeddings that :class:`HyperShot` accepts.
KERNELS = ("cosine", "dot")


def kernel_matrix(a: Tensor, b: Tensor, kernel: str = "cosine") -> Tensor:
    """Kernel values ``[..., n, m]`` between embeddings ``a [..., n, D]`` and ``b [..., m, D]``.

    ``"cosine"``: cosine similarity (in ``[-1, 1]``); ``"dot"``: inner product.

    Examples:
        >>> import torch
        >>> from hyperfunc.fewshot import kernel_matrix
        >>> a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> kernel_matrix(a, a).round(decimals=4)
        tensor([[1.0000, 0.7071],
                [0.7071, 1.0000]])
    """
    if kernel == "cosine":
        a = torch.nn.functional.normalize(a, dim=-1)
        b = torch.nn.functional.normalize(b, dim=-1)
    elif kernel != "dot":
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    return a @ b.transpose(-1, -2)


class HyperShot(FewShotMethod):
    """HyperShot: support–support kernel matrix → hypernetwork → a classifier of kernel values.

    The backbone (``target``, e.g. ``conv4(num_classes=0)``; weights in
    :attr:`~hyperfunc.fewshot.FewShotMethod.theta`) embeds the support and query sets of the meta-batch in one
    call. For each episode, with the support set in label order, the kernel matrix
    ``K[i, j] = k(s_i, s_j)`` (``n_way·k_shot`` square) is flattened and read by an
    :class:`~hyperfunc.hypernets.MLPHyperNet` (:attr:`hypernet`) that generates the
    weights of a small classifier (:attr:`classifier`, an MLP
    ``n_way·k_shot → classifier_hidden… → n_way``). A query is classified from its
    kernel values against the support set, ``[k(q, s_1), …, k(q, s_{NK})]``. The
    order of the support set carries the labels, so the generated classifier knows
    which kernel values belong to which class. Backbone and hypernetwork are
    trained together on the query loss.

    Args:
        target: the backbone.
        n_way, k_shot: the episodes' shape.
        hidden: the hypernetwork's hidden widths.
        classifier_hidden: hidden widths of the generated classifier (``()``: linear).
        kernel: ``"cosine"`` or ``"dot"`` (see :func:`kernel_matrix`).
        params: the backbone's initial weights; default ``target.init_params()``.

    Attributes:
        hypernet: the :class:`~hyperfunc.hypernets.MLPHyperNet` that reads the kernel matrix.
        classifier: the generated classifier, a stateless :class:`~hyperfunc.Target`.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import Episodes, HyperShot
        >>> method = HyperShot(hf.stateless(hf.targets.mlp(8, 16, hidden=(32,))), n_way=5, k_shot=2)
        >>> batch = Episodes(torch.randn(10, 6, 8), n_way=5, k_shot=2, q_query=3, batch_size=4).batch(0)
        >>> method.classifier_weights(batch)["0.weight"].shape     # [B, n_way, n_way * k_shot]
        torch.Size([4, 5, 10])
        >>> method.predict(batch).shape
        torch.Size([4, 15, 5])
    """

    def __init__(
        self,
        target: Target,
        n_way: int,
        k_shot: int,
        hidden: Sequence[int] = (256, 256),
        classifier_hidden: Sequence[int] = (),
        *,
        kernel: str = "cosine",
        params: Mapping[str, Tensor] | None = None,
    ) -> None:
        super().__init__(target, params, loss="cross_entropy")
        check_positive(n_way=n_way, k_shot=k_shot)
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
        self.n_way, self.k_shot, self.kernel = n_way, k_shot, kernel
        self.hidden = tuple(int(h) for h in hidden)
        self.classifier_hidden = tuple(int(h) for h in classifier_hidden)
        n_s = n_way * k_shot
        self.classifier = stateless(mlp(n_s, n_way, hidden=self.classifier_hidden))
        self.hypernet = MLPHyperNet(self.classifier, in_features=n_s * n_s, hidden=self.hidden)

    def describe(self) -> dict[str, Any]:
        """Hyperparameters for a results file."""
        return {
            "n_way": self.n_way, "k_shot": self.k_shot, "hidden": list(self.hidden),
            "classifier_hidden": list(self.classifier_hidden), "kernel": self.kernel,
        }

    def _kernels(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Support–support ``[B, S, S]`` and query–support ``[B, n_query, S]`` kernel values."""
        self.check_batch(batch)
        assert isinstance(batch, EpisodeBatch)  # check_batch raised otherwise
        check_episode_shape(type(self).__name__, batch, self.n_way, self.k_shot)
        n_s = batch.x_support.shape[1]
        emb = self.embed(torch.cat([batch.x_support, batch.x_query], 1))
        support, _ = by_label(emb[:, :n_s], batch.y_support)
        return kernel_matrix(support, support, self.kernel), kernel_matrix(emb[:, n_s:], support, self.kernel)

    def classifier_weights(self, batch: Batch) -> dict[str, Tensor]:
        """The generated classifier's weights for each episode, every tensor ``[B, ...]``."""
        k_ss, _ = self._kernels(batch)
        weights: dict[str, Tensor] = self.hypernet(k_ss.flatten(1))
        return weights

    def predict(self, batch: Batch) -> Tensor:
        """Logits ``[B, N*Q, N]``: each episode's classifier applied to its queries' kernel values."""
        k_ss, k_qs = self._kernels(batch)
        out: Tensor = self.classifier.batched(self.hypernet(k_ss.flatten(1)), k_qs)
        return out
