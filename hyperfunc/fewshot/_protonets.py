"""Prototypical networks (Snell et al. 2017): classify queries by their distance to class means."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from hyperfunc._target import Target
from hyperfunc.fewshot._batch import EpisodeBatch
from hyperfunc.fewshot._method import Batch, FewShotMethod

__all__ = ["ProtoNets", "prototypes"]


def prototypes(embeddings: Tensor, labels: Tensor, n_way: int) -> Tensor:
    """Per-class means of support embeddings, for a meta-batch of episodes.

    Args:
        embeddings: ``[B, n_support, D]``.
        labels: ``[B, n_support]`` local labels ``0..n_way-1`` (in any order).
        n_way: the number of classes ``N``.

    Returns:
        ``[B, N, D]``: row ``c`` of episode ``b`` is the mean embedding of its support
        examples labelled ``c``.

    Raises:
        ValueError: a class has no support example in some episode.

    Examples:
        >>> import torch
        >>> from hyperfunc.fewshot import prototypes
        >>> emb = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [5.0, 5.0]]])
        >>> prototypes(emb, torch.tensor([[0, 0, 1]]), n_way=2)
        tensor([[[1., 0.],
                 [5., 5.]]])
    """
    onehot = torch.nn.functional.one_hot(labels, n_way).to(embeddings.dtype)  # [B, S, N]
    counts = onehot.sum(1)  # [B, N]
    if bool((counts == 0).any()):
        b, c = (int(i) for i in (counts == 0).nonzero()[0])
        raise ValueError(
            f"class {c} of episode {b} has no support example, so it has no prototype; every label "
            f"0..{n_way - 1} needs at least one support example (k_shot >= 1)"
        )
    return torch.einsum("bsn,bsd->bnd", onehot, embeddings) / counts[..., None]


class ProtoNets(FewShotMethod):
    """Prototypical networks: logits are minus the squared Euclidean distances to class prototypes.

    The target is the embedding network (its output, flattened, is the
    embedding: build ``conv4`` with ``num_classes=0``). The support and query
    sets of the whole meta-batch are embedded in **one** call with shared weights
    (``[B, n, ...]`` flattened to ``[B*n, ...]``); with batch norm in training mode
    its statistics are therefore taken over the whole meta-batch. Each class's
    prototype is the mean embedding of its support examples (see
    :func:`prototypes`) and a query's logit for class ``c`` is
    ``-‖f(x) − p_c‖²``. There is no inner loop; the backbone weights are the
    parameters (:attr:`~hyperfunc.fewshot.FewShotMethod.theta`) the outer loop trains.

    Args:
        target: the embedding network.
        params: its initial weights; default ``target.init_params()``.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import Episodes, ProtoNets
        >>> net = ProtoNets(hf.stateless(hf.targets.mlp(8, 16, hidden=(32,))))
        >>> batch = Episodes(torch.randn(10, 6, 8), n_way=5, k_shot=1, q_query=3, batch_size=4).batch(0)
        >>> net.predict(batch).shape                  # logits [B, N*Q, N]
        torch.Size([4, 15, 5])
        >>> loss, logs = net.loss(batch)
        >>> loss.backward()
        >>> net.accuracy(batch).shape                 # one accuracy per episode
        torch.Size([4])
    """

    def __init__(self, target: Target, params: Mapping[str, Tensor] | None = None) -> None:
        super().__init__(target, params, loss="cross_entropy")

    def predict(self, batch: Batch) -> Tensor:
        """Logits ``[B, N*Q, N]``: minus squared distances of query embeddings to the prototypes."""
        self.check_batch(batch)
        assert isinstance(batch, EpisodeBatch)  # check_batch raised otherwise
        n_s = batch.x_support.shape[1]
        emb = self.embed(torch.cat([batch.x_support, batch.x_query], 1))
        protos = prototypes(emb[:, :n_s], batch.y_support, batch.n_way)
        query = emb[:, n_s:]
        return -(query[:, :, None, :] - protos[:, None, :, :]).pow(2).sum(-1)
