"""Small episode sets shared by the few-shot method tests."""

from __future__ import annotations

import torch
from torch import Tensor

from hyperfunc.fewshot import EpisodeBatch, Episodes, FewShotMethod, Sinusoid
from hyperfunc.run import Phase, RunConfig, train

__all__ = ["_episodes", "_clusters", "fit"]


def fit(method: FewShotMethod, sampler: Episodes | Sinusoid, steps: int, lr: float) -> None:
    """Meta-train ``method`` on ``sampler`` through the run layer (no folder)."""
    train(method, [Phase("meta-train", lambda step, g: sampler.batch(step))],
          RunConfig(steps=steps, lr=lr, progress=False))


def _episodes(
    n_way: int = 4, k_shot: int = 2, q_query: int = 3, batch_size: int = 3, dim: int = 8
) -> EpisodeBatch:
    data = torch.randn(12, k_shot + q_query + 2, dim, generator=torch.Generator().manual_seed(1))
    return Episodes(data, n_way=n_way, k_shot=k_shot, q_query=q_query, batch_size=batch_size, seed=3).batch(0)


def _clusters(seed: int = 0) -> Tensor:
    """60 classes × 20 examples: 4 informative dims (class mean + small noise), 12 loud nuisance dims."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(60, 1, 4, generator=g)
    informative = means + 0.3 * torch.randn(60, 20, 4, generator=g)
    return torch.cat([informative, 3.0 * torch.randn(60, 20, 12, generator=g)], -1)
