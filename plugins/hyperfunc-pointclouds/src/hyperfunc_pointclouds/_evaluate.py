"""Test-set evaluation of a :class:`~hyperfunc_pointclouds.HyperCloud`: mean Chamfer distance."""

from __future__ import annotations

from typing import Any

import hyperfunc.distributed as hd
import torch
from torch import Tensor

from hyperfunc_pointclouds._chamfer import chamfer_distance
from hyperfunc_pointclouds._checks import check_positive, check_seed
from hyperfunc_pointclouds._model import HyperCloud, check_clouds
from hyperfunc_pointclouds._sampling import sample_unit_ball
from hyperfunc_pointclouds._shapes import ShapeClouds

__all__ = ["evaluate"]


def evaluate(
    model: HyperCloud,
    clouds: ShapeClouds | Tensor,
    *,
    n_samples: int | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean Chamfer distance between each cloud and ``model``'s reconstruction of it.

    Every cloud is encoded, ``n_samples`` points of the unit ball are mapped
    through its generated target (:meth:`HyperCloud.reconstruct`), and the
    :func:`~hyperfunc_pointclouds.chamfer_distance` to the cloud is taken. The
    clouds are processed ``batch_size`` at a time under :func:`torch.no_grad`
    (moved to the model's device and dtype one batch at a time).

    The ball samples come from a generator seeded with ``seed``, drawn cloud by
    cloud in order: cloud ``i`` gets the ``i``-th sample, whatever ``batch_size``
    is, so the numbers do not depend on the batch size and equal a loop of
    ``model.reconstruct(clouds[i:i + 1], n_samples, generator=g)`` over the
    clouds with one generator ``g = torch.Generator().manual_seed(seed)``. The
    model's parameters, gradients and training mode, and the global random
    state, are left as they were. Under torchrun each process scores its share
    of the clouds (drawing the samples of the others' clouds, unused) and the
    results are gathered: the numbers are one process's.

    Args:
        model: the :class:`HyperCloud` to evaluate.
        clouds: a :class:`ShapeClouds` (then the result has one entry per shape
            kind as well) or clouds ``[K, N, 3]``, ``K >= 1``.
        n_samples: points generated per cloud; ``N`` if ``None``.
        batch_size: clouds per forward pass (memory only; the result is the same).
        seed: seeds the ball samples.

    Returns:
        A JSON-serialisable dict:

        * ``"chamfer"``: the mean Chamfer distance over all clouds (a float);
        * ``"num_clouds"``, ``"n_samples"``, ``"seed"``: what was evaluated;
        * ``"per_kind"``: for a :class:`ShapeClouds`, ``{kind: {"chamfer": mean over
          the clouds of that kind, "num_clouds": how many}}`` for every kind that
          occurs, in the order of ``clouds.kinds``; ``{}`` for a plain tensor;
        * ``"per_cloud"``: the Chamfer distance of every cloud, in order.

        The means are taken in float64, so ``chamfer`` is the ``num_clouds``-weighted
        average of the per-kind means.

    Raises:
        TypeError: ``model`` is not a :class:`HyperCloud`, or the clouds are not
            a floating-point tensor.
        ValueError: bad shapes, NaN or infinite coordinates, no clouds, or a
            non-positive ``n_samples`` / ``batch_size`` or negative ``seed``.

    Examples:
        >>> from hyperfunc_pointclouds import HyperCloud, evaluate, shapes
        >>> model = HyperCloud(dim=16, hypernet_hidden=(32,))
        >>> result = evaluate(model, shapes(10, 64, seed=1), batch_size=4)
        >>> result["num_clouds"], list(result["per_kind"])
        (10, ['sphere', 'torus', 'box', 'cylinder', 'cone'])
        >>> again = evaluate(model, shapes(10, 64, seed=1), batch_size=10)  # other batches
        >>> abs(result["chamfer"] - again["chamfer"]) < 1e-6
        True
    """
    where = "evaluate"
    if not isinstance(model, HyperCloud):
        raise TypeError(
            f"{where}: model must be a HyperCloud, got {type(model).__name__}; build one with "
            "HyperCloud(dim=...)"
        )
    labels: Tensor | None = None
    kinds: tuple[str, ...] = ()
    if isinstance(clouds, ShapeClouds):
        labels, kinds = clouds.labels, clouds.kinds
        points = check_clouds(where, "clouds.points", clouds.points)
    else:
        points = check_clouds(where, "clouds", clouds)
    check_positive(where, batch_size=batch_size)
    if n_samples is not None:
        check_positive(where, n_samples=n_samples)
    seed = check_seed(where, seed)
    if points.shape[0] == 0:
        raise ValueError(
            f"{where}: clouds holds no clouds (shape {list(points.shape)}), and a mean over none "
            "is undefined; pass at least one"
        )
    n = points.shape[1] if n_samples is None else int(n_samples)
    params = list(model.parameters())
    device = params[0].device if params else points.device
    dtype = params[0].dtype if params else points.dtype
    g = torch.Generator().manual_seed(seed)
    size = int(batch_size)
    part = hd.share(points.shape[0])  # under torchrun each process scores its share of the clouds
    for _ in range(part.start):  # the draws of the clouds before this share
        sample_unit_ball(n, generator=g, dtype=dtype)
    mine = points[part]
    per_cloud: list[Tensor] = [torch.zeros(0, dtype=torch.float64)]
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, mine.shape[0], size):
                batch = mine[start : start + size].to(device=device, dtype=dtype)
                # one draw per cloud, in order, from the same generator: cloud i's sample
                # does not depend on how the clouds are batched
                base = torch.stack(
                    [sample_unit_ball(n, generator=g, dtype=dtype) for _ in range(batch.shape[0])]
                ).to(device)
                recon = model.decode(model(batch), base)
                per_cloud.append(chamfer_distance(recon, batch, reduction="none").double().cpu())
    finally:
        for module, mode in modes:
            module.training = mode
    values = hd.gather(torch.cat(per_cloud))
    per_kind: dict[str, dict[str, Any]] = {}
    if labels is not None:
        label_list = labels.cpu()
        for index, kind in enumerate(kinds):
            mask = label_list == index
            count = int(mask.sum())
            if count:
                per_kind[kind] = {"chamfer": float(values[mask].mean()), "num_clouds": count}
    return {
        "chamfer": float(values.mean()),
        "num_clouds": int(values.shape[0]),
        "n_samples": n,
        "seed": seed,
        "per_kind": per_kind,
        "per_cloud": [float(v) for v in values],
    }
