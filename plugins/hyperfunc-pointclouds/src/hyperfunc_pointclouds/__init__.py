"""Point clouds for hyperfunc: Chamfer distance, a PointNet encoder, HyperCloud and a shapes task.

Installing this package adds, through entry points only (hyperfunc's core knows
nothing about it):

* the target ``hypercloud`` (:func:`hypercloud`) to :mod:`hyperfunc.targets`;
* the embedding ``pointnet`` (:class:`PointNetEncoder`) to :mod:`hyperfunc.embeddings`;
* the task ``shapes`` (:func:`shapes`) to :mod:`hyperfunc.tasks`;
* the method ``hypercloud`` (:class:`HyperCloud`) to :data:`hyperfunc.methods`;
* the family ``pointclouds`` (:class:`PointCloudFamily`) to :data:`hyperfunc.run.families`,
  so ``hyperfunc run --method hypercloud --tasks shapes`` trains, evaluates and
  saves a HyperCloud end to end.

It also provides :func:`chamfer_distance`, the samplers :func:`sample_unit_ball`
and :func:`sample_unit_sphere`, the composed model :class:`HyperCloud` (Spurek
et al. 2020), :func:`fit` (its training through :func:`hyperfunc.run.train`,
set up by a :class:`PointCloudConfig`), the test-set measure :func:`evaluate`,
:func:`plot_clouds` for PNG grids of clouds (with matplotlib), and
:func:`load_point_clouds` for ``.npy`` files::

    import hyperfunc as hf
    from hyperfunc_pointclouds import HyperCloud, PointCloudConfig, evaluate, fit

    data = hf.tasks.get("shapes")(num_clouds=20, num_points=512, seed=0)
    model = HyperCloud(dim=64)
    results = fit(model, data, PointCloudConfig(steps=500, batch_size=10))
    clouds = model.reconstruct(data.points[:4], n_samples=2048)   # [4, 2048, 3]
    evaluate(model, hf.tasks.get("shapes")(10, 512, seed=1))["chamfer"]
"""

from __future__ import annotations

from hyperfunc_pointclouds._chamfer import REDUCTIONS, chamfer_distance
from hyperfunc_pointclouds._encoder import PointNetEncoder
from hyperfunc_pointclouds._evaluate import evaluate
from hyperfunc_pointclouds._family import PointCloudConfig, PointCloudFamily, fit
from hyperfunc_pointclouds._io import load_point_clouds
from hyperfunc_pointclouds._model import HYPERNETS, HyperCloud
from hyperfunc_pointclouds._plot import plot_clouds
from hyperfunc_pointclouds._sampling import sample_unit_ball, sample_unit_sphere
from hyperfunc_pointclouds._shapes import SHAPES, ShapeClouds, shapes
from hyperfunc_pointclouds._target import hypercloud

__all__ = [
    "HYPERNETS",
    "REDUCTIONS",
    "SHAPES",
    "HyperCloud",
    "PointCloudConfig",
    "PointCloudFamily",
    "PointNetEncoder",
    "ShapeClouds",
    "__version__",
    "chamfer_distance",
    "evaluate",
    "fit",
    "hypercloud",
    "load_point_clouds",
    "plot_clouds",
    "sample_unit_ball",
    "sample_unit_sphere",
    "shapes",
]

__version__ = "0.1.0"
