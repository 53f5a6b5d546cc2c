"""Models, data and comparisons shared by the inner-loop tests (float64 throughout)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

DTYPE = torch.float64
mse = nn.functional.mse_loss
ce = nn.functional.cross_entropy


def mlp() -> nn.Module:
    """The MAML sinusoid regressor, 1→40→40→1."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1)
    ).to(DTYPE)


def conv() -> nn.Module:
    """A small conv classifier on 1×8×8 images, 5 classes."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)
    ).to(DTYPE)


def sinusoid(episodes: int | None = None, shots: int = 10, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``x, y`` of sinusoid tasks: ``[shots, 1]``, or ``[episodes, shots, 1]``."""
    g = torch.Generator().manual_seed(seed)
    b = 1 if episodes is None else episodes
    amp = 0.1 + 4.9 * torch.rand(b, 1, 1, generator=g, dtype=DTYPE)
    phase = torch.pi * torch.rand(b, 1, 1, generator=g, dtype=DTYPE)
    x = 10 * torch.rand(b, shots, 1, generator=g, dtype=DTYPE) - 5
    y = amp * torch.sin(x + phase)
    return (x[0], y[0]) if episodes is None else (x, y)


def images(episodes: int | None = None, shots: int = 10, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random 1×8×8 images and labels in 0..4: ``[shots, ...]`` or ``[episodes, shots, ...]``."""
    g = torch.Generator().manual_seed(seed)
    b = 1 if episodes is None else episodes
    x = torch.randn(b, shots, 1, 8, 8, generator=g, dtype=DTYPE)
    y = torch.randint(0, 5, (b, shots), generator=g)
    return (x[0], y[0]) if episodes is None else (x, y)


Problem = tuple[Callable[[], nn.Module], Callable[..., tuple[Tensor, Tensor]], Callable[..., Tensor]]
PROBLEMS: dict[str, Problem] = {
    "mlp": (mlp, sinusoid, mse),
    "conv": (conv, images, ce),
}


def leaves(module: nn.Module) -> dict[str, Tensor]:
    """Detached copies of the module's parameters that require grad."""
    return {n: p.detach().clone().requires_grad_() for n, p in module.named_parameters()}


def max_err(a: Sequence[Tensor | None], b: Sequence[Tensor | None]) -> float:
    """Largest absolute difference between two lists of tensors (``None`` counts as zeros)."""
    out = 0.0
    for u, v in zip(a, b, strict=True):
        if u is None and v is None:
            continue
        u = torch.zeros_like(v) if u is None else u  # type: ignore[arg-type]
        v = torch.zeros_like(u) if v is None else v
        out = max(out, (u - v).abs().max().item())
    return out


def clone_module(m: nn.Module) -> nn.Module:
    return copy.deepcopy(m)


def snapshot(m: nn.Module) -> dict[str, object]:
    """Everything about a module that an inner loop must not change."""
    return {
        "state": {k: v.clone() for k, v in m.state_dict().items()},
        "ids": [id(p) for p in m.parameters()],
        "training": [x.training for x in m.modules()],
        "grads": [None if p.grad is None else id(p.grad) for p in m.parameters()],
        "hooks": [(len(x._forward_hooks), len(x._forward_pre_hooks)) for x in m.modules()],
        "types": [type(x) for x in m.modules()],
        "forward": [x.__dict__.get("forward") for x in m.modules()],
    }


def assert_unchanged(m: nn.Module, before: dict[str, object]) -> None:
    after = snapshot(m)
    for key in ("ids", "training", "grads", "hooks", "types", "forward"):
        assert after[key] == before[key], key
    for k, v in before["state"].items():  # type: ignore[attr-defined]
        assert torch.equal(after["state"][k], v), k  # type: ignore[index]


class _Square(torch.autograd.Function):
    """x² with a backward that is not differentiable again."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return 2 * x * g


class OnceDifferentiable(nn.Module):
    """A Linear(1, 1) followed by a square whose backward cannot be differentiated again."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1).to(DTYPE)

    def forward(self, x: Tensor) -> Tensor:
        return _Square.apply(self.lin(x))  # type: ignore[no-any-return]
