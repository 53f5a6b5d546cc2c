"""HNET (von Oswald et al. 2020) and HyperMask (Książek & Spurek 2023)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from hyperfunc import hypernets
from hyperfunc._target import Target
from hyperfunc.continual._method import ContinualMethod, TaskBatch
from hyperfunc.embeddings import TaskTable

__all__ = ["HNET", "HyperMask"]


class HNET(ContinualMethod):
    """A task-conditioned hypernetwork: task embedding → hypernetwork → target weights.

    The loss for task ``t`` is the task loss plus
    ``beta · mean_j ‖h(e_j; θ) − h*_j‖²`` over earlier tasks ``j < t``, where
    ``h*_j`` are the hypernetwork's outputs for ``e_j`` stored when task ``t``
    began. The current task and all regularised earlier tasks go through the
    hypernetwork in **one batched call**. Earlier embeddings stay fixed.

    Args:
        target: the stateless target.
        num_tasks: length of the task stream.
        emb_dim: size of a task embedding.
        hypernet: registered hypernetwork family (``"chunked"``, ``"mlp"``, ``"mask"``, …).
        hypernet_args: keyword arguments for it (default for ``chunked``:
            ``chunk_size=4000, chunk_dim=32, hidden=(100, 100)``).
        beta: strength of the output regulariser.
        reg_subset: regularise a random subset of this many earlier tasks per step
            (default: all).
        batched_regulariser: ``False`` computes the regulariser as hypnettorch does,
            with one hypernetwork call per earlier task and per-tensor differences
            (for comparison only).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.continual import HNET, TaskBatch
        >>> target = hf.stateless(hf.targets.mlp(4, 2, hidden=(8,)))
        >>> method = HNET(target, num_tasks=3, emb_dim=4, hypernet_args={"chunk_size": 16})
        >>> method.begin_task(1)
        >>> loss, logs = method.loss(TaskBatch(1, torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1])))
        >>> sorted(logs)
        ['loss', 'regulariser', 'task_loss']
    """

    name: ClassVar[str] = "hnet"
    conditioned: ClassVar[bool] = True
    default_hypernet: ClassVar[str] = "chunked"
    default_hypernet_args: ClassVar[dict[str, dict[str, Any]]] = {
        "chunked": {"chunk_size": 4000, "chunk_dim": 32, "hidden": (100, 100)},
    }

    def __init__(
        self,
        target: Target,
        num_tasks: int,
        *,
        emb_dim: int = 32,
        hypernet: str | None = None,
        hypernet_args: Mapping[str, Any] | None = None,
        beta: float = 0.01,
        reg_subset: int | None = None,
        batched_regulariser: bool = True,
    ) -> None:
        super().__init__(target, num_tasks)
        family = hypernet or self.default_hypernet
        args = dict(self.default_hypernet_args.get(family, {}))
        args.update(hypernet_args or {})
        self.hypernet_name, self.hypernet_args = family, args
        self.embeddings = TaskTable(num_tasks, emb_dim)
        self.hnet: nn.Module = hypernets.get(family)(target, emb_dim, **args)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if reg_subset is not None and reg_subset < 1:
            raise ValueError(f"reg_subset must be >= 1 (or None for all), got {reg_subset}")
        self.beta, self.reg_subset, self.batched_regulariser = beta, reg_subset, batched_regulariser
        #: h*_j, the stored outputs for earlier tasks (in the form the hypernetwork's
        #: :meth:`~hyperfunc.hypernets.HyperNetwork.flat_with_penalty` compares against).
        self.old_outputs = torch.zeros(0, target.spec.size)

    def describe(self) -> dict[str, Any]:
        return {
            "emb_dim": self.embeddings.dim,
            "hypernet": self.hypernet_name,
            "hypernet_args": {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.hypernet_args.items()
            },
            "beta": self.beta,
            "reg_subset": self.reg_subset,
            "hypernet_parameters": sum(p.numel() for p in self.hnet.parameters()),
            "target_parameters": self.target.spec.size,
        }

    def begin_task(self, t: int) -> None:
        self.check_task(t)
        with torch.no_grad():  # h*_j: outputs before learning task t
            z = self.embeddings.weight[:t].detach()
            if t == 0:
                self.old_outputs = torch.zeros(0, self.target.spec.size)
            elif isinstance(self.hnet, hypernets.HyperNetwork) and self.batched_regulariser:
                self.old_outputs = self.hnet.reference(z)  # the form its penalty compares
            else:
                self.old_outputs = self._flat(z)

    def weights(self, t: int) -> dict[str, Tensor]:
        self.check_task(t)
        out: dict[str, Tensor] = self.hnet(self.embeddings.weight[t])
        return out

    def weights_upto(self, n: int) -> dict[str, Tensor]:
        out: dict[str, Tensor] = self.hnet(self.embeddings.weight[:n])
        return out

    def _flat(self, z: Tensor) -> Tensor:
        flat = getattr(self.hnet, "flat", None)
        if flat is not None:
            out: Tensor = flat(z)
            return out
        return self.target.spec.flatten(self.hnet(z))

    def _old_ids(self, t: int) -> Tensor | None:
        """Earlier tasks to regularise now: ``None`` for all of them, else a random subset."""
        if self.reg_subset is None or self.reg_subset >= t:
            return None
        return torch.randperm(t)[: self.reg_subset]

    def _old(self, t: int) -> tuple[Tensor, Tensor]:
        """Earlier tasks' embeddings (detached) and stored outputs to regularise now."""
        emb, ids = self.embeddings.weight.detach(), self._old_ids(t)
        if ids is None:  # all of them: slices, no gather copies
            return emb[:t], self.old_outputs[:t]
        return emb[ids], self.old_outputs[ids]

    def get_extra_state(self) -> dict[str, Tensor]:
        """The stored outputs of earlier tasks, so a checkpoint taken mid-task resumes exactly."""
        return {"old_outputs": self.old_outputs}

    def set_extra_state(self, state: dict[str, Tensor]) -> None:
        """Restore :meth:`get_extra_state`."""
        self.old_outputs = state["old_outputs"]

    def loss(self, batch: TaskBatch) -> tuple[Tensor, dict[str, float]]:
        t, x, y = batch.task, batch.x, batch.y
        self.check_task(t)
        emb = self.embeddings.weight
        spec = self.target.spec
        reg = torch.zeros((), device=x.device)
        if t == 0 or self.beta == 0:
            params = self.hnet(emb[t])
        elif self.batched_regulariser:  # current task and earlier tasks in one call
            z_old, ref = self._old(t)
            if isinstance(self.hnet, hypernets.HyperNetwork):
                flat, reg = self.hnet.flat_with_penalty(emb[t], z_old, ref)
                params = spec.unflatten(flat)
            else:
                out = self._flat(torch.cat([emb[t : t + 1], z_old]))
                params = spec.unflatten(out[0])
                reg = (out[1:] - ref).pow(2).sum(-1).mean()
        else:
            params = self.hnet(emb[t])
            ids = self._old_ids(t)
            terms = []  # hypnettorch's way: one call per task, differences per tensor
            for j in range(t) if ids is None else ids.tolist():
                gen, stored = self.hnet(emb[j].detach()), spec.unflatten(self.old_outputs[j])
                terms.append(torch.stack([(gen[k] - stored[k]).pow(2).sum() for k in gen]).sum())
            reg = torch.stack(terms).mean()
        task_loss = nn.functional.cross_entropy(self.target(params, x), y)
        total = task_loss + self.beta * reg
        return total, {
            "loss": float(total.detach()),
            "task_loss": float(task_loss.detach()),
            "regulariser": float(reg.detach()),
        }


class HyperMask(HNET):
    """HyperMask: the hypernetwork generates semi-binary masks over one shared target.

    Weights for task ``t`` are ``θ_base ⊙ |tanh(h(e_t))|`` with the smallest
    ``sparsity`` fraction of each mask set to zero (:class:`hyperfunc.hypernets.Mask`);
    the base weights are trained too, and the same output regulariser as HNET
    keeps earlier tasks' (masked) weights fixed.

    Args:
        target: the stateless target.
        num_tasks: length of the task stream.
        sparsity: fraction of each mask set to zero.
        emb_dim, hypernet_args, beta, reg_subset, batched_regulariser: as for :class:`HNET`.
    """

    name: ClassVar[str] = "hypermask"
    default_hypernet: ClassVar[str] = "mask"
    default_hypernet_args: ClassVar[dict[str, dict[str, Any]]] = {
        "mask": {"hidden": (100, 100)},
    }

    def __init__(
        self,
        target: Target,
        num_tasks: int,
        *,
        sparsity: float = 0.3,
        emb_dim: int = 32,
        hypernet_args: Mapping[str, Any] | None = None,
        beta: float = 0.01,
        reg_subset: int | None = None,
        batched_regulariser: bool = True,
    ) -> None:
        args = {"sparsity": sparsity, **(hypernet_args or {})}
        super().__init__(
            target,
            num_tasks,
            emb_dim=emb_dim,
            hypernet="mask",
            hypernet_args=args,
            beta=beta,
            reg_subset=reg_subset,
            batched_regulariser=batched_regulariser,
        )
