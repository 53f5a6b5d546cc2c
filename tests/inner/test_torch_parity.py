"""Every inner optimiser equals its ``torch.optim`` counterpart step for step (float64)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from hyperfunc import inner

DTYPE = torch.float64

# (torch.optim class, its keyword arguments, our class, our keyword arguments)
CASES: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any], Callable[..., Any], dict[str, Any]]] = {
    "sgd": (torch.optim.SGD, {"lr": 0.1}, inner.SGD, {"lr": 0.1}),
    "sgd-momentum": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}, inner.SGD, {"lr": 0.1, "momentum": 0.9}),
    "sgd-dampening-wd": (
        torch.optim.SGD,
        {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05},
        inner.SGD,
        {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05},
    ),
    "sgd-nesterov": (
        torch.optim.SGD,
        {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        inner.SGD,
        {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    ),
    "adam": (torch.optim.Adam, {"lr": 0.01}, inner.Adam, {"lr": 0.01}),
    "adam-amsgrad-wd": (
        torch.optim.Adam,
        {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
        inner.Adam,
        {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
    ),
    "adam-decoupled": (
        torch.optim.Adam,
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        inner.Adam,
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
    ),
    "adamw": (torch.optim.AdamW, {"lr": 0.01}, inner.AdamW, {"lr": 0.01}),
    "adamw-amsgrad": (
        torch.optim.AdamW,
        {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True},
        inner.AdamW,
        {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True},
    ),
    "rmsprop": (torch.optim.RMSprop, {"lr": 0.01}, inner.RMSprop, {"lr": 0.01}),
    "rmsprop-centered-momentum": (
        torch.optim.RMSprop,
        {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
        inner.RMSprop,
        {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
    ),
    "adagrad": (torch.optim.Adagrad, {"lr": 0.1}, inner.Adagrad, {"lr": 0.1}),
    "adagrad-options": (
        torch.optim.Adagrad,
        {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.05, "initial_accumulator_value": 0.2},
        inner.Adagrad,
        {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.05, "initial_accumulator_value": 0.2},
    ),
    "adadelta": (torch.optim.Adadelta, {"lr": 1.0}, inner.Adadelta, {"lr": 1.0}),
    "adadelta-options": (
        torch.optim.Adadelta,
        {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1},
        inner.Adadelta,
        {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1},
    ),
    "adamax": (torch.optim.Adamax, {"lr": 0.01}, inner.Adamax, {"lr": 0.01}),
    "adamax-options": (
        torch.optim.Adamax,
        {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.1},
        inner.Adamax,
        {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.1},
    ),
    "asgd": (torch.optim.ASGD, {"lr": 0.05}, inner.ASGD, {"lr": 0.05}),
    "asgd-options": (
        torch.optim.ASGD,
        {"lr": 0.05, "lambd": 0.1, "alpha": 0.5, "t0": 2, "weight_decay": 0.1},
        inner.ASGD,
        {"lr": 0.05, "lambd": 0.1, "alpha": 0.5, "t0": 2, "weight_decay": 0.1},
    ),
    "rprop": (torch.optim.Rprop, {"lr": 0.01}, inner.Rprop, {"lr": 0.01}),
    "rprop-options": (
        torch.optim.Rprop,
        {"lr": 0.1, "etas": (0.3, 1.5), "step_sizes": (0.01, 0.2)},
        inner.Rprop,
        {"lr": 0.1, "etas": (0.3, 1.5), "step_sizes": (0.01, 0.2)},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_equal_torch_optim(case: str) -> None:
    torch_cls, torch_kw, ours_cls, ours_kw = CASES[case]
    g = torch.Generator().manual_seed(0)
    start = {"w": torch.randn(4, 3, generator=g, dtype=DTYPE), "b": torch.randn(3, generator=g, dtype=DTYPE)}
    grads = [{k: torch.randn(v.shape, generator=g, dtype=DTYPE) for k, v in start.items()} for _ in range(6)]
    grads[3]["b"] = -grads[2]["b"]  # sign flips (Rprop), a step against the momentum
    ref = {k: torch.nn.Parameter(v.clone()) for k, v in start.items()}
    opt = torch_cls(list(ref.values()), **torch_kw)
    ours = ours_cls(**ours_kw)
    params, state = dict(start), ours.init_state(start)
    for step in grads:
        for k, p in ref.items():
            p.grad = step[k].clone()
        opt.step()
        params, state = ours.step(params, step, state)
        # torch.optim.ASGD keeps its rate eta as a float32 tensor even for float64 weights; we keep the
        # float (as higher does), so the two agree to float32 precision there and exactly elsewhere
        rtol = 1e-6 if case.startswith("asgd") else 1e-12
        for k in ref:
            torch.testing.assert_close(
                params[k], ref[k].detach(), rtol=rtol, atol=rtol * 1e-2, msg=f"{case} {k}"
            )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: inner.SGD(lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda: inner.RMSprop(alpha=-0.1), "RMSprop alpha must be a finite number >= 0"),
        (lambda: inner.Adamax(betas=(0.9, 1.0)), r"Adamax betas must be a pair of floats in \[0, 1\)"),
        (lambda: inner.Rprop(etas=(1.5, 0.5)), "0 < decrease < 1 < increase"),
        (lambda: inner.Rprop(step_sizes=(1.0, 0.1)), "minimum <= maximum"),
        (lambda: inner.Adagrad(lr_decay=float("nan")), "Adagrad lr_decay must be a finite number"),
    ],
)
def test_bad_settings_are_named(make: Callable[[], Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_every_optimiser_is_registered() -> None:
    for name, cls in [
        ("sgd", inner.SGD),
        ("adamw", inner.AdamW),
        ("rmsprop", inner.RMSprop),
        ("adagrad", inner.Adagrad),
        ("adadelta", inner.Adadelta),
        ("adamax", inner.Adamax),
        ("asgd", inner.ASGD),
        ("rprop", inner.Rprop),
    ]:
        assert inner.get(name) is cls
