"""A plain training loop for :class:`~hyperfunc_pointclouds.HyperCloud`."""

from __future__ import annotations

import hyperfunc
import torch
from torch import Tensor

from hyperfunc_pointclouds._checks import check_positive, check_seed
from hyperfunc_pointclouds._model import HyperCloud, check_clouds
from hyperfunc_pointclouds._shapes import ShapeClouds

__all__ = ["fit"]


def fit(
    model: HyperCloud,
    data: ShapeClouds | Tensor,
    *,
    steps: int = 1000,
    lr: float = 1e-3,
    batch_size: int = 16,
    seed: int = 0,
    n_samples: int | None = None,
    progress: bool = True,
) -> list[float]:
    """Train ``model`` with Adam to reconstruct the clouds of ``data``; return the loss per step.

    Each step draws ``batch_size`` different clouds at random (all of them if
    there are fewer), computes :meth:`HyperCloud.loss` (the Chamfer distance
    between each cloud and ``n_samples`` points generated from it) and takes one
    Adam step on all of the model's parameters. Batches and ball samples come
    from a generator seeded with ``seed``, so a run is reproducible given the
    model's initial weights; the global random state is untouched. The data are
    moved to the model's device one batch at a time.

    All arguments are checked before training starts: a bad argument raises and
    leaves the model unchanged.

    Args:
        model: the :class:`HyperCloud` to train (in place).
        data: a :class:`ShapeClouds` (e.g. from the ``shapes`` task) or clouds
            ``[K, N, 3]`` (e.g. from :func:`load_point_clouds`).
        steps: optimiser steps.
        lr: Adam's learning rate.
        batch_size: clouds per step.
        seed: seeds batch selection and the ball samples.
        n_samples: points generated per cloud; ``N`` if ``None``.
        progress: show a progress bar with the running loss on stderr.

    Returns:
        The training loss (mean Chamfer distance of the batch) before each step.

    Examples:
        >>> from hyperfunc_pointclouds import HyperCloud, fit, shapes
        >>> model = HyperCloud(dim=16, hypernet_hidden=(32,))
        >>> history = fit(model, shapes(5, 64), steps=3, batch_size=2, progress=False)
        >>> len(history)
        3
    """
    if not isinstance(model, HyperCloud):
        raise TypeError(
            f"fit: model must be a HyperCloud, got {type(model).__name__}; build one with "
            "HyperCloud(dim=...)"
        )
    points = data.points if isinstance(data, ShapeClouds) else data
    points = check_clouds("fit", "data", points)
    check_positive("fit", steps=steps, batch_size=batch_size)
    if n_samples is not None:
        check_positive("fit", n_samples=n_samples)
    seed = check_seed("fit", seed)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf"):
        raise ValueError(f"fit: lr must be a positive number, got {lr!r}")
    if points.shape[0] == 0:
        raise ValueError("fit: data holds no clouds (shape [0, N, 3]); pass at least one")
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    dtype = params[0].dtype if params else points.dtype
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(params, lr=float(lr))
    size = min(int(batch_size), points.shape[0])
    history: list[float] = []
    bar = hyperfunc.progress(int(steps), "fit HyperCloud", progress)  # tqdm, or a text bar
    for _ in bar:
        index = torch.randperm(points.shape[0], generator=g)[:size]
        batch: Tensor = points[index].to(device=device, dtype=dtype)
        loss = model.loss(batch, n_samples=n_samples, generator=g)
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
        history.append(float(loss.detach()))
        bar.set_postfix_str(f"chamfer {history[-1]:.4g}")
    return history
