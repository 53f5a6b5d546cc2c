"""Batched-matmul fast path for plain MLP targets (``nn.Sequential`` of Linear + activations)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

__all__ = ["mlp_plan", "run_mlp_plan", "ELEMENTWISE"]

#: Module types that act elementwise and hold no parameters: safe on any batched shape.
ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.ELU, nn.SELU, nn.SiLU,
    nn.Softplus, nn.Mish, nn.Identity, nn.Hardtanh, nn.ReLU6, nn.Dropout,
)

Step = tuple[str, str | None] | nn.Module  # ("w", "b"|None) for a Linear, else the module


def _is_elementwise(m: nn.Module) -> bool:
    # Registered elementwise types, plus modules that opt in (e.g. hyperfunc's Sine).
    return isinstance(m, ELEMENTWISE) or bool(getattr(m, "_hyperfunc_elementwise", False))


def mlp_plan(module: nn.Module) -> list[Step] | None:
    """A list of steps if ``module`` is a plain MLP, else ``None``.

    A plain MLP is an ``nn.Sequential`` (possibly nested) of ``nn.Linear`` and
    parameter-free elementwise modules, with no forward hooks.
    """
    steps: list[Step] = []
    # canonical names: a tied parameter is known by its first name only
    canon = {id(p): name for name, p in module.named_parameters()}

    def walk(seq: nn.Module, prefix: str) -> bool:
        if not isinstance(seq, nn.Sequential) or seq._forward_hooks or seq._forward_pre_hooks:
            return False
        for key, child in seq._modules.items():  # not named_children(): keeps repeats
            if child is None:
                continue
            name = f"{prefix}{key}"
            if child._forward_hooks or child._forward_pre_hooks:
                return False
            if type(child) is nn.Linear:
                bias = canon[id(child.bias)] if child.bias is not None else None
                steps.append((canon[id(child.weight)], bias))
            elif isinstance(child, nn.Sequential):
                if not walk(child, f"{name}."):
                    return False
            elif _is_elementwise(child) and not list(child.parameters()):
                steps.append(child)
            else:
                return False
        return True

    if not walk(module, "") or not any(isinstance(s, tuple) for s in steps):
        return None
    return steps


def run_mlp_plan(
    steps: list[Step], params: Mapping[str, Tensor], x: Tensor, *, shared: bool
) -> Tensor:
    """Evaluate a batch of MLPs: ``params`` has a leading axis B on every tensor.

    ``x`` is ``[B, *, in]`` (one input batch per weight set) or, with ``shared``,
    ``[*, in]`` (the same inputs for every weight set). Returns ``[B, *, out]``.
    """
    b = next(iter(params.values())).shape[0]
    mid = x.shape[:-1] if shared else x.shape[1:-1]
    # shared inputs stay 2-D until the first Linear, whose matmul broadcasts them over B
    h = x.reshape(-1, x.shape[-1]) if shared else x.reshape(b, -1, x.shape[-1])
    for step in steps:
        if isinstance(step, tuple):
            wt = params[step[0]].transpose(1, 2)
            if h.dim() == 2:
                h = torch.matmul(h, wt)
                if step[1] is not None:
                    h = h + params[step[1]].unsqueeze(1)
            elif step[1] is None:
                h = torch.bmm(h, wt)
            else:
                h = torch.baddbmm(params[step[1]].unsqueeze(1), h, wt)
        else:
            h = step(h)
    return h.reshape(b, *mid, h.shape[-1])
