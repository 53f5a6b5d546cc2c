"""``hyperfunc demo``: a task-conditioned hypernetwork on built-in synthetic tasks.

Needs no files: each task is a two-class problem on rotated interleaved spirals,
generated from a seed. One hypernetwork produces the weights of an MLP classifier
for every task from a learned task embedding, and all tasks train in one batched
call per step.
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

import hyperfunc as hf

__all__ = ["spiral_tasks", "run_demo"]


def spiral_tasks(
    num_tasks: int, n: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``num_tasks`` two-spiral problems, each rotated by its own angle: x [T, n, 2], y [T, n]."""
    t = torch.rand(num_tasks, n, generator=generator) * 3 * math.pi
    y = torch.randint(0, 2, (num_tasks, n), generator=generator)
    r = t / (3 * math.pi)
    angle = t + math.pi * y + torch.arange(num_tasks)[:, None] * (2 * math.pi / num_tasks)
    x = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=-1)
    x = x + 0.02 * torch.randn(x.shape, generator=generator)
    return x, y


def run_demo(steps: int = 600, seed: int = 0, num_tasks: int = 5) -> int:
    """Train on ``num_tasks`` spiral tasks and print each task's test accuracy."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x_train, y_train = spiral_tasks(num_tasks, 512, g)
    x_test, y_test = spiral_tasks(num_tasks, 512, g)
    target = hf.stateless(hf.targets.mlp(2, 2, hidden=(64, 64)))
    table = hf.embeddings.TaskTable(num_tasks, dim=8)
    hnet = hf.hypernets.Chunked(target, in_features=8, chunk_size=1024, hidden=(64, 64))
    f = hf.compose(hnet, target)
    opt = torch.optim.Adam([*hnet.parameters(), *table.parameters()], lr=2e-3)
    ids = torch.arange(num_tasks)
    print(
        f"hyperfunc demo: {num_tasks} spiral tasks, target {target}, hypernetwork "
        f"{sum(p.numel() for p in hnet.parameters()):,} weights "
        f"(compression {hnet.compression_ratio:.2f})"
    )
    start = time.perf_counter()
    for step in range(1, steps + 1):
        logits = f(table(ids), x_train)  # [T, n, 2]: all tasks in one call
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y_train.flatten())
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        if step % max(1, steps // 6) == 0 or step == steps:
            print(f"  step {step:>5}/{steps}  loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (f(table(ids), x_test).argmax(-1) == y_test).float().mean(-1)
    elapsed = time.perf_counter() - start
    print("test accuracy per task: " + "  ".join(f"{a:.3f}" for a in acc.tolist()))
    print(f"mean {acc.mean().item():.3f}  ({elapsed:.1f} s)")
    return 0
