"""The functional optimisers against torch.optim and hand computations, and the registry."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import hyperfunc as hf
import hyperfunc.inner as inner
from hyperfunc.inner import SGD, Adam, AdamState, MetaSGD

from ._helpers import DTYPE, leaves, mlp, mse, sinusoid


def _run_torch(
    opt_cls: type[torch.optim.Optimizer], steps: int, **kw: object
) -> tuple[dict[str, Tensor], list[dict[str, Tensor]]]:
    """Train a copy of the MLP with a real torch.optim optimiser; return final weights and grads seen."""
    net = mlp()
    x, y = sinusoid()
    opt = opt_cls(net.parameters(), **kw)  # type: ignore[call-arg]
    seen = []
    for _ in range(steps):
        opt.zero_grad()
        mse(net(x), y).backward()
        seen.append({n: p.grad.clone() for n, p in net.named_parameters()})  # type: ignore[union-attr]
        opt.step()
    return {n: p.detach() for n, p in net.named_parameters()}, seen


def _run_functional(opt: inner.InnerOptimizer, grads: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    params = {n: p.detach() for n, p in mlp().named_parameters()}
    state = opt.init_state(params)
    for g in grads:
        params, state = opt.step(params, g, state)
    return params


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_sgd_matches_torch_optim(weight_decay: float) -> None:
    want, grads = _run_torch(torch.optim.SGD, 4, lr=0.05, weight_decay=weight_decay)
    got = _run_functional(SGD(lr=0.05, weight_decay=weight_decay), grads)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=0, atol=1e-14)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_matches_torch_optim(weight_decay: float) -> None:
    kw = dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    want, grads = _run_torch(torch.optim.Adam, 5, **kw)
    got = _run_functional(Adam(**kw), grads)  # type: ignore[arg-type]
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=0, atol=1e-14)


def test_adam_eps_modes_differ_only_for_tiny_gradients() -> None:
    p = {"w": torch.zeros(2, dtype=DTYPE)}
    g = {"w": torch.tensor([1.0, 1e-8], dtype=DTYPE)}
    out = {}
    for mode in ("torch", "higher"):
        opt = Adam(lr=1.0, eps=1e-8, eps_mode=mode)  # type: ignore[arg-type]
        out[mode] = opt.step(p, g, opt.init_state(p))[0]["w"]
    # step 1 moves by lr·g/(|g| + eps) (torch) and lr·g/(|g| + eps/√(1-β₂)) (higher)
    torch.testing.assert_close(out["torch"], -g["w"] / (g["w"].abs() + 1e-8))
    torch.testing.assert_close(out["higher"], -g["w"] / (g["w"].abs() + 1e-8 / 0.001**0.5))
    assert abs(out["torch"][0] - out["higher"][0]) < 1e-6 and abs(out["torch"][1] - out["higher"][1]) > 0.4


def test_missing_gradients_leave_parameter_and_state_alone() -> None:
    params = {"a": torch.ones(2, dtype=DTYPE), "b": torch.ones(3, dtype=DTYPE)}
    opt = Adam(lr=0.1)
    state = opt.init_state(params)
    new, state = opt.step(params, {"a": torch.ones(2, dtype=DTYPE), "b": None}, state)
    new, state = opt.step(new, {"a": torch.ones(2, dtype=DTYPE)}, state)
    assert new["b"] is params["b"] and state.step == {"a": 2, "b": 0}
    assert torch.equal(state.exp_avg["b"], torch.zeros(3, dtype=DTYPE))
    for o in (SGD(lr=0.1), MetaSGD({"a": torch.tensor(0.1, dtype=DTYPE)})):
        out, _ = o.step(params, {"a": torch.ones(2, dtype=DTYPE)}, None)
        assert out["b"] is params["b"] and not torch.equal(out["a"], params["a"])


def test_adam_second_order_is_finite_with_zero_gradients() -> None:
    # A weight with an exactly-zero gradient has v = 0, where √v has an infinite derivative.
    w = torch.tensor([1.0, 2.0], dtype=DTYPE, requires_grad=True)
    loss = (w[0] - 3.0) ** 2  # d/dw[1] = 0
    (g,) = torch.autograd.grad(loss, w, create_graph=True)
    opt = Adam(lr=0.1)
    new, _ = opt.step({"w": w}, {"w": g}, opt.init_state({"w": w}))
    (meta,) = torch.autograd.grad(new["w"].sum(), w)
    assert torch.isfinite(meta).all()


def test_meta_sgd_rates_get_gradients_and_match_hand_computation() -> None:
    params = leaves(mlp())
    x, y = sinusoid()
    rates = MetaSGD.init_rates(params, lr=0.02)
    assert all(r.is_leaf and r.requires_grad and r.shape == params[n].shape for n, r in rates.items())
    fast = inner.adapt(hf.stateless(mlp()), params, mse, x, y, optimizer=MetaSGD(rates), steps=1)
    g = torch.autograd.grad(mse(hf.stateless(mlp())(params, x), y), list(params.values()))
    for (n, p), gn in zip(params.items(), g):
        torch.testing.assert_close(fast[n], p - 0.02 * gn)
    xq, yq = sinusoid(seed=1)
    mse(hf.stateless(mlp())(fast, xq), yq).backward()
    assert all(r.grad is not None and r.grad.abs().sum() > 0 for r in rates.values())
    scalar = MetaSGD.init_rates(params, lr=0.1, per_weight=False)
    assert all(r.shape == () for r in scalar.values())


def test_meta_sgd_rates_get_gradients_in_first_order_too() -> None:
    params = leaves(mlp())
    x, y = sinusoid()
    rates = MetaSGD.init_rates(params, lr=0.02)
    target = hf.stateless(mlp())
    fast = inner.adapt(target, params, mse, x, y, optimizer=MetaSGD(rates), steps=2, first_order=True)
    mse(target(fast, x), y).backward()
    assert all(r.grad is not None and r.grad.abs().sum() > 0 for r in rates.values())


def test_learned_lr_tensor_gets_gradient() -> None:
    lr = torch.tensor(0.01, dtype=DTYPE, requires_grad=True)
    params = leaves(mlp())
    x, y = sinusoid()
    for opt in (SGD(lr=lr), Adam(lr=lr)):
        lr.grad = None
        fast = inner.adapt(hf.stateless(mlp()), params, mse, x, y, optimizer=opt, steps=2)
        mse(hf.stateless(mlp())(fast, x), y).backward()
        assert lr.grad is not None and lr.grad != 0


def test_state_is_explicit_data() -> None:
    p = {"w": torch.ones(2)}
    state = Adam(lr=0.1).init_state(p)
    assert isinstance(state, AdamState) and state.step == {"w": 0}
    assert SGD(lr=0.1).init_state(p) == inner.SGDState({})


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SGD(lr=-0.1), "SGD lr must be a finite number >= 0"),
        (lambda: SGD(lr="0.1"), "SGD lr must be a float or a tensor"),
        (lambda: Adam(lr=0.1, betas=(0.9, 1.0)), r"betas must be a pair of floats in \[0, 1\)"),
        (lambda: Adam(lr=0.1, eps=float("nan")), "Adam eps must be a finite number"),
        (lambda: Adam(lr=0.1, eps_mode="pytorch"), "eps_mode"),
        (lambda: MetaSGD({"w": 0.1}), "MetaSGD rates must be tensors"),
    ],
)
def test_bad_settings(make: object, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        make()  # type: ignore[operator]


def test_meta_sgd_missing_or_misshaped_rates() -> None:
    p = {"a": torch.ones(2, 3), "b": torch.ones(3)}
    g = {"a": torch.ones(2, 3), "b": torch.ones(3)}
    with pytest.raises(KeyError, match=r"no learning rate for \['b'\].*init_rates"):
        MetaSGD({"a": torch.ones(2, 3)}).step(p, g, None)
    with pytest.raises(ValueError, match=r"rate for 'a' has shape \[3, 2\].*parameter's shape \[2, 3\]"):
        MetaSGD({"a": torch.ones(3, 2), "b": torch.ones(3)}).step(p, g, None)


def test_gradients_for_unknown_parameters() -> None:
    with pytest.raises(KeyError, match=r"gradients were given for \['c'\]"):
        SGD(lr=0.1).step({"a": torch.ones(1)}, {"c": torch.ones(1)}, None)


def test_adam_state_from_other_parameters() -> None:
    opt = Adam(lr=0.1)
    with pytest.raises(KeyError, match="no entry for 'b'"):
        opt.step({"b": torch.ones(1)}, {"b": torch.ones(1)}, opt.init_state({"a": torch.ones(1)}))


# -------------------------------------------------------------------- registry
def test_registry_names_and_lookup() -> None:
    assert {"sgd", "meta-sgd", "adam"} <= set(inner.names())
    assert inner.get("adam") is Adam and inner.get("sgd") is SGD and inner.get("meta-sgd") is MetaSGD
    assert isinstance(inner.get("sgd")(lr=0.1), inner.InnerOptimizer)
    assert {e.name for e in inner.entries()} >= {"sgd", "meta-sgd", "adam"}


def test_unknown_optimizer_name_lists_known_names_and_closest() -> None:
    with pytest.raises(hf.UnknownNameError) as info:
        inner.get("sdg")
    msg = str(info.value)
    assert "Did you mean 'sgd'?" in msg and "adam, adamax, adamw, asgd, meta-sgd, rmsprop, rprop, sgd" in msg
