"""Baselines: fine-tuning (shows forgetting) and online EWC (Schwarz et al. 2018)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.func import grad, vmap

from hyperfunc._target import Target
from hyperfunc.continual._method import ContinualMethod, TaskBatch
from hyperfunc.continual._streams import Task

__all__ = ["FineTune", "OnlineEWC"]


class FineTune(ContinualMethod):
    """One set of target weights, trained on each task in turn with no protection.

    With ``multihead=True`` (the default, the task-incremental protocol) the last
    layer's tensors are kept once per task — each task has its own output head,
    selected by the task id — and all other weights are shared. With
    ``multihead=False`` every task shares all weights, including the output layer.

    Args:
        target: the stateless target.
        num_tasks: length of the task stream.
        multihead: one output head per task.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.continual import FineTune
        >>> method = FineTune(hf.stateless(hf.targets.mlp(4, 2, hidden=(8,))), num_tasks=2)
        >>> method.logits(1, torch.randn(3, 4)).shape
        torch.Size([3, 2])
        >>> method.head_names
        ['2.weight', '2.bias']
    """

    name: ClassVar[str] = "finetune"

    def __init__(self, target: Target, num_tasks: int, *, multihead: bool = True) -> None:
        super().__init__(target, num_tasks)
        spec = target.spec
        last = spec.names[-1].rsplit(".", 1)[0] if "." in spec.names[-1] else None
        heads = [n for n in spec.names if last is not None and n.rsplit(".", 1)[0] == last]
        self.multihead = multihead and bool(heads)
        self.head_names = heads if self.multihead else []
        self._shared = spec.select([n for n in spec.names if n not in self.head_names])
        self._head = spec.select(self.head_names)
        init = target.init_params()
        parts = [self._shared.flatten({n: init[n] for n in self._shared.names})]
        for _ in range(num_tasks if self.multihead else 0):
            init = target.init_params()
            parts.append(self._head.flatten({n: init[n] for n in self.head_names}))
        self.flat = nn.Parameter(torch.cat(parts))

    def describe(self) -> dict[str, Any]:
        return {"multihead": self.multihead, "head": self.head_names}

    def weights_from(self, flat: Tensor, t: int) -> dict[str, Tensor]:
        """The target weights of task ``t`` from a flat vector laid out like :attr:`flat`."""
        s, h = self._shared.size, self._head.size
        shared = self._shared.unflatten(flat[:s])
        if not self.multihead:
            return shared
        head = self._head.unflatten(flat[s + t * h : s + (t + 1) * h])
        return {n: shared[n] if n in shared else head[n] for n in self.target.spec.names}

    def weights(self, t: int) -> dict[str, Tensor]:
        self.check_task(t)
        return self.weights_from(self.flat, t)

    def loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        t, x, y = batch.task, batch.x, batch.y
        loss = nn.functional.cross_entropy(self.logits(t, x), y)
        return loss, {"loss": float(loss.detach())}


class OnlineEWC(FineTune):
    """Online elastic weight consolidation: a quadratic penalty weighted by the Fisher.

    After each task the diagonal Fisher information is estimated from per-example
    gradients (one vectorised ``vmap(grad(...))`` call per chunk, labels sampled
    from the model's predictions) and accumulated as ``F ← γ F + F_t``; the penalty is
    ``λ/2 · Σ F (θ − θ*)²`` around the weights ``θ*`` after the last task.

    Args:
        target: the stateless target.
        num_tasks: length of the task stream.
        lam: penalty strength λ.
        gamma: decay γ of the accumulated Fisher (1: plain sum).
        fisher_samples: training examples used to estimate the Fisher.
    """

    name: ClassVar[str] = "ewc"
    fisher: Tensor
    anchor: Tensor

    def __init__(
        self,
        target: Target,
        num_tasks: int,
        *,
        lam: float = 100.0,
        gamma: float = 1.0,
        fisher_samples: int = 1000,
    ) -> None:
        super().__init__(target, num_tasks)
        if lam < 0 or not 0 < gamma <= 1 or fisher_samples < 1:
            raise ValueError(
                f"need lam >= 0, 0 < gamma <= 1, fisher_samples >= 1; got {lam}, {gamma}, {fisher_samples}"
            )
        self.lam, self.gamma, self.fisher_samples = lam, gamma, fisher_samples
        self.register_buffer("fisher", torch.zeros_like(self.flat.detach()))
        self.register_buffer("anchor", self.flat.detach().clone())

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "lam": self.lam, "gamma": self.gamma,
                "fisher_samples": self.fisher_samples}

    def loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        t, x, y = batch.task, batch.x, batch.y
        task_loss = nn.functional.cross_entropy(self.logits(t, x), y)
        penalty = 0.5 * (self.fisher * (self.flat - self.anchor).pow(2)).sum()
        total = task_loss + self.lam * penalty
        return total, {
            "loss": float(total.detach()),
            "task_loss": float(task_loss.detach()),
            "penalty": float(penalty.detach()),
        }

    def end_task(self, t: int, task: Task) -> None:
        target = self.target
        flat = self.flat.detach()

        def nll(w: Tensor, x: Tensor, y: Tensor) -> Tensor:
            logits = target(self.weights_from(w, t), x[None])[0]
            return nn.functional.cross_entropy(logits, y)

        per_example = vmap(grad(nll), in_dims=(None, 0, 0))
        idx = torch.randperm(len(task.x_train))[: self.fisher_samples]
        total = torch.zeros_like(flat)
        for chunk in torch.split(idx, 256):
            x = task.x_train[chunk]
            with torch.no_grad():
                probs = torch.softmax(target(self.weights_from(flat, t), x), -1)
            y = torch.multinomial(probs, 1).squeeze(1)  # the true Fisher: labels from the model
            total += per_example(flat, x, y).pow(2).sum(0)
        self.fisher.mul_(self.gamma).add_(total / len(idx))
        self.anchor.copy_(flat)
