"""Few-shot learning: N-way K-shot samplers, Omniglot, sinusoid regression and baseline methods.

* :class:`Episodes` samples N-way K-shot Q-query classification episodes from any
  labelled dataset (grouped by class, or flat with labels) as an
  :class:`EpisodeBatch` of tensors with a leading task axis;
* :func:`load_omniglot` reads Omniglot from a local file and
  :func:`with_rotations` adds the rotated characters as classes (both live in
  :mod:`hyperfunc.datasets` and are re-exported here);
* :class:`Sinusoid` samples MAML's sinusoid regression tasks as a
  :class:`SinusoidBatch`;
* the hypernetwork methods :class:`HyperMAML` (a generated update of the
  classifier head replaces MAML's inner steps) and :class:`HyperShot` (a
  classifier generated from the support kernel matrix), and the baselines
  :class:`ProtoNets` and :class:`MAML` (all :class:`FewShotMethod`\\ s), trained
  with :func:`run_fewshot` (through :func:`hyperfunc.run.train`) and scored with
  :func:`evaluate` (mean and 95 % interval over episodes); :func:`plot_episode`
  draws one episode with a method's predictions (a run folder's ``episode.png``).

Sampling is seeded: meta-batch ``i`` of a sampler is a pure function of its seed
and ``i``, drawn with its own generator.

Two tasks are registered in :mod:`hyperfunc.tasks` through hyperfunc's own entry
points, as a plugin's would be: ``omniglot`` (:func:`omniglot`) and ``sinusoid``
(:class:`Sinusoid`).

Examples:
    >>> import hyperfunc as hf
    >>> tasks = hf.tasks.get("sinusoid")(k_shot=5, batch_size=4)
    >>> tuple(tasks.batch(0).x_support.shape)
    (4, 5, 1)
"""

from __future__ import annotations

from hyperfunc.datasets import OMNIGLOT_FILE, load_omniglot, with_rotations
from hyperfunc.fewshot._batch import EpisodeBatch
from hyperfunc.fewshot._episodes import Episodes
from hyperfunc.fewshot._family import FewShotConfig, FewShotFamily, Sampler, evaluate, run_fewshot
from hyperfunc.fewshot._hypermaml import HyperMAML
from hyperfunc.fewshot._hypershot import KERNELS, HyperShot, kernel_matrix
from hyperfunc.fewshot._maml import MAML
from hyperfunc.fewshot._method import LOSSES, FewShotMethod, feature_size
from hyperfunc.fewshot._plot import plot_episode
from hyperfunc.fewshot._protonets import ProtoNets, prototypes
from hyperfunc.fewshot._registered import omniglot
from hyperfunc.fewshot._sinusoid import Sinusoid, SinusoidBatch

__all__ = [
    "Episodes",
    "EpisodeBatch",
    "Sinusoid",
    "SinusoidBatch",
    "Sampler",
    "load_omniglot",
    "with_rotations",
    "omniglot",
    "OMNIGLOT_FILE",
    "FewShotMethod",
    "ProtoNets",
    "prototypes",
    "MAML",
    "LOSSES",
    "HyperMAML",
    "HyperShot",
    "KERNELS",
    "kernel_matrix",
    "feature_size",
    "FewShotConfig",
    "FewShotFamily",
    "run_fewshot",
    "evaluate",
    "plot_episode",
]
