"""The outer loop of few-shot methods: meta-training with Adam, and evaluation with a 95 % interval."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from hyperfunc._progress import progress
from hyperfunc.fewshot._method import Batch, FewShotMethod

__all__ = ["meta_train", "evaluate"]


def _check_method(method: object, fn: str) -> None:
    if not isinstance(method, FewShotMethod):
        raise TypeError(
            f"{fn} needs a FewShotMethod (ProtoNets, MAML, ...), got {type(method).__name__}"
        )


def _count(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def meta_train(
    method: FewShotMethod,
    batches: Iterable[Batch],
    steps: int,
    lr: float = 1e-3,
    show_progress: bool = True,
) -> list[float]:
    """Train ``method`` for ``steps`` meta-batches with Adam on its :meth:`~FewShotMethod.loss`.

    Args:
        method: the few-shot method; all its parameters are trained.
        batches: meta-batches, e.g. an :class:`~hyperfunc.fewshot.Episodes` or
            :class:`~hyperfunc.fewshot.Sinusoid` sampler (endless); one is drawn per step.
        steps: number of outer steps.
        lr: Adam's learning rate.
        show_progress: show a progress bar (with the running loss) on stderr.

    Returns:
        The loss of every step.

    Raises:
        ValueError: ``batches`` ran out before ``steps`` batches were drawn.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import MAML, Sinusoid, meta_train
        >>> maml = MAML(hf.stateless(hf.targets.mlp(1, 1, hidden=(40, 40))), inner_lr=0.01, loss="mse")
        >>> history = meta_train(maml, Sinusoid(batch_size=4), steps=3, show_progress=False)
        >>> len(history)
        3
    """
    _check_method(method, "meta_train")
    _count(steps, "steps")
    opt = torch.optim.Adam(method.parameters(), lr=lr)
    source = iter(batches)
    history: list[float] = []
    bar = progress(steps, desc=f"meta-train {type(method).__name__}", enabled=show_progress)
    for i in bar:
        try:
            batch = next(source)
        except StopIteration:
            raise ValueError(
                f"batches ran out after {i} meta-batches, but steps={steps}; pass an endless sampler "
                "(Episodes, Sinusoid) or fewer steps"
            ) from None
        loss, logs = method.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        history.append(float(loss.detach()))
        bar.set_postfix_str(" ".join(f"{k}={v:.4g}" for k, v in logs.items()))
    return history


def evaluate(method: FewShotMethod, batches: Iterable[Batch], n_batches: int) -> tuple[float, float]:
    """Mean per-episode score over ``n_batches`` meta-batches, with its 95 % confidence half-width.

    The score is :meth:`FewShotMethod.accuracy` (a fraction in ``[0, 1]``; for
    regression methods the query MSE). The interval is ``1.96 · std / √n`` over
    the ``n`` episodes (sample standard deviation; 0 for a single episode).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import Episodes, ProtoNets, evaluate
        >>> net = ProtoNets(hf.stateless(hf.targets.mlp(8, 16, hidden=(32,))))
        >>> episodes = Episodes(torch.randn(10, 6, 8), n_way=5, k_shot=1, q_query=3, batch_size=4)
        >>> mean, ci95 = evaluate(net, episodes, n_batches=2)
        >>> 0.0 <= mean <= 1.0 and ci95 >= 0.0
        True
    """
    _check_method(method, "evaluate")
    _count(n_batches, "n_batches")
    scores = []
    source = iter(batches)
    for i in range(n_batches):
        try:
            batch = next(source)
        except StopIteration:
            raise ValueError(
                f"batches ran out after {i} meta-batches, but n_batches={n_batches}"
            ) from None
        scores.append(method.accuracy(batch).detach().double())
    s = torch.cat(scores)
    n = s.numel()
    ci = 1.96 * float(s.std()) / math.sqrt(n) if n > 1 else 0.0
    return float(s.mean()), ci
