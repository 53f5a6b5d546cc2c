"""hyperfunc.higher.innerloop_ctx against the real higher 0.2.1 (meta-gradients in float64)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import higher
import pytest
import torch
from torch import Tensor, nn

import hyperfunc as hf
import hyperfunc.higher as hh
from hyperfunc.inner import SGD, Adam, SecondOrderError, adapt

from ._helpers import (
    DTYPE,
    PROBLEMS,
    OnceDifferentiable,
    assert_unchanged,
    leaves,
    max_err,
    mlp,
    mse,
    sinusoid,
    snapshot,
)

# Meta-gradients must agree with higher within 1e-5 (the bar); in float64 they agree
# to ~1e-15, so the tests use a tighter bound that still leaves room for summation order.
TOL = 1e-10

OPTIMIZERS: dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05),
    "sgd-wd": lambda p: torch.optim.SGD(p, lr=0.05, weight_decay=0.01),
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    "sgd-dampening": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
    "sgd-nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adam-betas": lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.5, 0.9), eps=1e-6),
    "adam-amsgrad": lambda p: torch.optim.Adam(p, lr=0.01, amsgrad=True, weight_decay=0.01),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01),
    "rmsprop-centered": lambda p: torch.optim.RMSprop(p, lr=0.01, centered=True, weight_decay=0.01),
    "rmsprop-momentum": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, alpha=0.9),
    "rmsprop-centered-momentum": lambda p: torch.optim.RMSprop(p, lr=0.01, centered=True, momentum=0.5),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.05),
    "adagrad-options": lambda p: torch.optim.Adagrad(
        p, lr=0.05, lr_decay=0.1, weight_decay=0.01, initial_accumulator_value=0.1
    ),
    "adadelta": lambda p: torch.optim.Adadelta(p, lr=1.0),
    "adadelta-options": lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.8, weight_decay=0.01),
    "adamax": lambda p: torch.optim.Adamax(p, lr=0.01),
    "adamax-options": lambda p: torch.optim.Adamax(p, lr=0.02, betas=(0.5, 0.9), weight_decay=0.01),
    "asgd": lambda p: torch.optim.ASGD(p, lr=0.05),
    "asgd-options": lambda p: torch.optim.ASGD(p, lr=0.05, lambd=0.1, alpha=0.5, t0=1, weight_decay=0.01),
    "rprop": lambda p: torch.optim.Rprop(p, lr=0.01),
    "rprop-options": lambda p: torch.optim.Rprop(p, lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.1)),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
}
#: Every optimiser and option of higher 0.2.1 (AdamW is not in higher: tested against torch.optim).
HIGHER_OPTIMIZERS = sorted(k for k in OPTIMIZERS if k not in ("sgd", "adam", "adamw"))
STEPS = {"mlp": 5, "conv": 3, "conv-bn": 3}


def conv_bn() -> nn.Module:
    """The conv classifier with batch norm (batch statistics in the inner loop, as in MAML)."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 5))
    return net.to(DTYPE)


PROBLEMS = {**PROBLEMS, "conv-bn": (conv_bn, PROBLEMS["conv"][1], PROBLEMS["conv"][2])}


def maml(
    ctx: Callable[..., Any],
    problem: str,
    opt_name: str,
    *,
    copy_initial_weights: bool = False,
    track_higher_grads: bool = True,
    **kw: Any,
) -> tuple[list[Tensor | None], list[Tensor], Any]:
    """One MAML meta-step through ``ctx``: (meta-gradients on the model, final fast weights, fmodel)."""
    make, data, loss = PROBLEMS[problem]
    model = make()
    opt = OPTIMIZERS[opt_name](model.parameters())
    for entry in opt.state.values():  # torch starts some counters (Adagrad's step) as float32
        for key, value in entry.items():  # tensors, which higher would then compute with
            if isinstance(value, Tensor) and value.dim() == 0:
                entry[key] = value.to(DTYPE)
    (xs, ys), (xq, yq) = data(), data(seed=1)
    with ctx(model, opt, copy_initial_weights=copy_initial_weights,
             track_higher_grads=track_higher_grads, **kw) as (fmodel, diffopt):
        for _ in range(STEPS[problem]):
            diffopt.step(loss(fmodel(xs), ys))
        query = loss(fmodel(xq), yq)
        if copy_initial_weights or not track_higher_grads:
            wrt = list(fmodel.parameters(time=0 if track_higher_grads else None))
            grads: list[Tensor | None] = list(torch.autograd.grad(query, wrt))
        else:
            query.backward()
            grads = [p.grad for p in model.parameters()]
    return grads, [t.detach() for t in fmodel.parameters()], fmodel


# --------------------------------------------------------------------- parity
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("problem", ["mlp", "conv"])
def test_second_order_meta_gradients_match_higher(problem: str, opt_name: str) -> None:
    want, want_fast, _ = maml(higher.innerloop_ctx, problem, opt_name)
    got, got_fast, _ = maml(hh.innerloop_ctx, problem, opt_name)
    assert all(g is not None for g in got)
    assert max(g.abs().max().item() for g in want if g is not None) > 1e-3  # not trivially zero
    assert max_err(got, want) < TOL
    assert max_err(got_fast, want_fast) < TOL


@pytest.mark.filterwarnings("ignore:Differentiable R:UserWarning")  # higher's notes on RMSprop, Rprop
@pytest.mark.parametrize("opt_name", HIGHER_OPTIMIZERS)
@pytest.mark.parametrize("problem", ["mlp", "conv", "conv-bn"])
def test_every_optimizer_and_option_matches_higher(problem: str, opt_name: str) -> None:
    """Second-order meta-gradients and fast weights equal higher's (float64, relative 1e-8)."""
    want, want_fast, _ = maml(higher.innerloop_ctx, problem, opt_name)
    got, got_fast, _ = maml(hh.innerloop_ctx, problem, opt_name)
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in got)
    if not all(w is None or bool(torch.isfinite(w).all()) for w in want):
        _check_by_finite_differences(problem, opt_name, got)  # where higher's own gradient is NaN
    want, got = _where_higher_is_finite(want, got)
    scale = max((g.abs().max().item() for g in want if g is not None), default=0.0)
    if scale > 0:  # (higher's centered RMSprop on the ReLU MLP is NaN everywhere: nothing to compare)
        assert max_err(got, want) <= 1e-8 * scale, opt_name
    assert max_err(got_fast, want_fast) <= 1e-8 * max(t.abs().max().item() for t in want_fast)


def _check_by_finite_differences(problem: str, opt_name: str, grads: list[Tensor | None]) -> None:
    """The meta-gradient along a random direction equals a central difference of the query loss."""
    make, data, loss = PROBLEMS[problem]
    (xs, ys), (xq, yq) = data(), data(seed=1)
    direction = [torch.randn(p.shape, generator=torch.Generator().manual_seed(i), dtype=DTYPE)
                 for i, p in enumerate(make().parameters())]

    def query_loss(eps: float) -> float:
        model = make()
        with torch.no_grad():
            for p, v in zip(model.parameters(), direction):
                p.add_(eps * v)
        opt = OPTIMIZERS[opt_name](model.parameters())
        with hh.innerloop_ctx(model, opt, track_higher_grads=False) as (fmodel, diffopt):
            for _ in range(STEPS[problem]):
                diffopt.step(loss(fmodel(xs), ys))
            return float(loss(fmodel(xq), yq).detach())

    eps = 1e-8  # the first centered-RMSprop step is nearly g / |g|: steep, so a small step is needed
    numeric = (query_loss(eps) - query_loss(-eps)) / (2 * eps)
    analytic = sum(float((g * v).sum()) for g, v in zip(grads, direction) if g is not None)
    assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (numeric, analytic)


def _where_higher_is_finite(
    want: list[Tensor | None], got: list[Tensor | None]
) -> tuple[list[Tensor | None], list[Tensor | None]]:
    """higher's centered RMSprop meta-gradient is NaN where a weight's gradient is exactly 0 (√0 in the
    centered denominator; higher warns that its RMSprop gradients are not correct); ours is finite there.
    Compare the two everywhere else."""
    keep = [None if w is None else torch.isfinite(w) for w in want]
    return (
        [None if w is None else torch.where(k, w, 0.0) for w, k in zip(want, keep)],
        [None if g is None or k is None else torch.where(k, g, 0.0) for g, k in zip(got, keep)],
    )


@pytest.mark.parametrize(
    "opt_name",
    ["sgd-momentum", "adam-amsgrad", "rmsprop-centered", "rmsprop-momentum", "adagrad", "adadelta", "adamax",
     "asgd", "rprop"],
)
def test_the_state_of_a_used_optimizer_is_carried_over_like_higher(opt_name: str) -> None:
    out = []
    for ctx in (higher.innerloop_ctx, hh.innerloop_ctx):
        model = mlp()
        opt = OPTIMIZERS[opt_name](model.parameters())
        for _ in range(2):  # used: momentum buffers, sums, step sizes are not at their start
            opt.zero_grad()
            mse(model(sinusoid(seed=3)[0]), sinusoid(seed=3)[1]).backward()
            opt.step()
        for p in model.parameters():
            p.grad = None
        for entry in opt.state.values():  # torch's float32 counters (step, eta, mu): float64 for both
            for key, value in entry.items():
                if isinstance(value, Tensor) and value.dim() == 0:
                    entry[key] = value.to(DTYPE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with ctx(model, opt, copy_initial_weights=False) as (fmodel, diffopt):
                for _ in range(2):
                    diffopt.step(mse(fmodel(sinusoid()[0]), sinusoid()[1]))
                mse(fmodel(sinusoid(seed=1)[0]), sinusoid(seed=1)[1]).backward()
        out.append([p.grad for p in model.parameters()])
    want, got = _where_higher_is_finite(out[0], out[1])
    assert max_err(got, want) < 1e-8 * max(g.abs().max().item() for g in want if g is not None)


def test_adamw_matches_torch_optim_adamw_and_gives_meta_gradients() -> None:
    model = mlp()
    x, y = sinusoid()
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    with hh.innerloop_ctx(model, opt, track_higher_grads=False) as (fmodel, diffopt):
        for _ in range(3):
            diffopt.step(mse(fmodel(x), y))
        got = [t.detach() for t in fmodel.parameters()]
    ref = mlp()
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=0.01, weight_decay=0.1)
    for _ in range(3):
        ref_opt.zero_grad()
        mse(ref(x), y).backward()
        ref_opt.step()
    assert max_err(got, [p.detach() for p in ref.parameters()]) < 1e-12
    grads, _, _ = maml(hh.innerloop_ctx, "mlp", "adamw")
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("problem", ["mlp", "conv"])
def test_functional_adapt_matches_higher(problem: str, opt_name: str) -> None:
    want, _, _ = maml(higher.innerloop_ctx, problem, opt_name)
    make, data, loss = PROBLEMS[problem]
    model = make()
    theta = dict(model.named_parameters())
    (xs, ys), (xq, yq) = data(), data(seed=1)
    opt = SGD(lr=0.05) if opt_name == "sgd" else Adam(lr=0.01, eps_mode="higher")
    target = hf.stateless(model)
    fast = adapt(target, theta, loss, xs, ys, optimizer=opt, steps=STEPS[problem])
    loss(target(fast, xq), yq).backward()
    assert max_err([p.grad for p in model.parameters()], want) < TOL


def test_adam_eps_torch_is_torch_optim_adam() -> None:
    # First order (no graph), the fast weights follow exactly what torch.optim.Adam does to a copy.
    model = mlp()
    x, y = sinusoid()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    with hh.innerloop_ctx(model, opt, track_higher_grads=False, adam_eps="torch") as (fmodel, diffopt):
        for _ in range(4):
            diffopt.step(mse(fmodel(x), y))
    twin = mlp()
    twin_opt = torch.optim.Adam(twin.parameters(), lr=0.01)
    for _ in range(4):
        twin_opt.zero_grad()
        mse(twin(x), y).backward()
        twin_opt.step()
    assert max_err(list(fmodel.parameters()), [p.detach() for p in twin.parameters()]) < 1e-12
    # and second order it is hyperfunc.inner.Adam's default (torch) update
    got, _, _ = maml(hh.innerloop_ctx, "mlp", "adam", adam_eps="torch")
    # higher's eps placement matters to second-order meta-gradients (hence the default "higher")
    assert max_err(got, maml(higher.innerloop_ctx, "mlp", "adam")[0]) > 1e-5
    model = mlp()
    target = hf.stateless(model)
    fast = adapt(target, dict(model.named_parameters()), mse, *sinusoid(), optimizer=Adam(lr=0.01), steps=5)
    mse(target(fast, sinusoid(seed=1)[0]), sinusoid(seed=1)[1]).backward()
    assert max_err(got, [p.grad for p in model.parameters()]) < TOL


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_first_order_matches_higher_without_higher_grads(opt_name: str) -> None:
    want, want_fast, _ = maml(higher.innerloop_ctx, "conv", opt_name, track_higher_grads=False)
    got, got_fast, fmodel = maml(hh.innerloop_ctx, "conv", opt_name, track_higher_grads=False)
    assert max_err(got, want) < TOL and max_err(got_fast, want_fast) < TOL
    assert all(t.is_leaf for t in fmodel.parameters())
    # FOMAML through the functional loop: the same gradient, on the initial weights
    make, data, loss = PROBLEMS["conv"]
    model = make()
    target = hf.stateless(model)
    theta = leaves(model)
    opt = SGD(lr=0.05) if opt_name == "sgd" else Adam(lr=0.01, eps_mode="higher")
    fast = adapt(target, theta, loss, *data(), optimizer=opt, steps=STEPS["conv"], first_order=True)
    fomaml = torch.autograd.grad(loss(target(fast, data(seed=1)[0]), data(seed=1)[1]), list(theta.values()))
    assert max_err(list(fomaml), want) < TOL


def test_copy_initial_weights_gives_gradients_on_the_copies_only() -> None:
    want, _, _ = maml(higher.innerloop_ctx, "mlp", "adam", copy_initial_weights=True)
    got, _, fmodel = maml(hh.innerloop_ctx, "mlp", "adam", copy_initial_weights=True)
    assert max_err(got, want) < TOL
    assert [t.is_leaf for t in fmodel.init_fast_params] == [True] * 6


def test_batch_norm_model_matches_higher() -> None:
    def make() -> nn.Module:
        torch.manual_seed(2)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 5)
        ).to(DTYPE)

    PROBLEMS["conv-bn"] = (make, PROBLEMS["conv"][1], PROBLEMS["conv"][2])
    STEPS["conv-bn"] = 3
    try:
        want, _, _ = maml(higher.innerloop_ctx, "conv-bn", "sgd")
        got, _, _ = maml(hh.innerloop_ctx, "conv-bn", "sgd")
    finally:
        del PROBLEMS["conv-bn"], STEPS["conv-bn"]
    assert max_err(got, want) < TOL


def _groups(model: nn.Module) -> list[dict[str, Any]]:
    # layer 0 fast, layer 4 slow, layer 2 in no group (stays fixed); 2.bias frozen
    model[2].bias.requires_grad_(False)
    return [
        {"params": list(model[0].parameters()), "lr": 0.1},
        {"params": [model[4].weight, model[4].bias, model[2].bias], "lr": 0.01},
    ]


def test_param_groups_unused_and_frozen_parameters_match_higher() -> None:
    out = []
    for ctx, kw in ((higher.innerloop_ctx, {}), (hh.innerloop_ctx, {})):
        model = mlp()
        opt = torch.optim.Adam(_groups(model), lr=0.05)
        with ctx(model, opt, copy_initial_weights=False, **kw) as (fmodel, diffopt):
            for _ in range(3):
                diffopt.step(mse(fmodel(sinusoid()[0]), sinusoid()[1]))
            mse(fmodel(sinusoid(seed=1)[0]), sinusoid(seed=1)[1]).backward()
        out.append(([p.grad for p in model.parameters()], [t.detach() for t in fmodel.parameters()]))
        assert torch.equal(out[-1][1][2], model[2].weight.detach())  # in no group: unchanged
    assert max_err(out[0][0], out[1][0]) < TOL and max_err(out[0][1], out[1][1]) < TOL


def test_override_with_a_learned_learning_rate_matches_higher() -> None:
    grads = []
    for ctx in (higher.innerloop_ctx, hh.innerloop_ctx):
        model = mlp()
        lr = torch.tensor(0.05, dtype=DTYPE, requires_grad=True)
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        with ctx(model, opt, override={"lr": [lr]}) as (fmodel, diffopt):
            for _ in range(3):
                diffopt.step(mse(fmodel(sinusoid()[0]), sinusoid()[1]))
            mse(fmodel(sinusoid(seed=1)[0]), sinusoid(seed=1)[1]).backward()
        grads.append(lr.grad)
    assert grads[1] is not None and abs(float(grads[0] - grads[1])) < TOL  # type: ignore[operator]


def test_adam_state_of_a_used_optimizer_is_carried_over_like_higher() -> None:
    out = []
    for ctx, kw in ((higher.innerloop_ctx, {}), (hh.innerloop_ctx, {})):
        model = mlp()
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(2):  # the optimiser has been used: step 2, non-zero moments
            opt.zero_grad()
            mse(model(sinusoid(seed=3)[0]), sinusoid(seed=3)[1]).backward()
            opt.step()
        for p in model.parameters():
            p.grad = None
        with ctx(model, opt, copy_initial_weights=False, **kw) as (fmodel, diffopt):
            for _ in range(2):
                diffopt.step(mse(fmodel(sinusoid()[0]), sinusoid()[1]))
            mse(fmodel(sinusoid(seed=1)[0]), sinusoid(seed=1)[1]).backward()
        out.append([p.grad for p in model.parameters()])
    # higher computes the bias correction with torch's float32 step tensor, hence 1e-7-level noise
    assert max_err(out[0], out[1]) < 1e-5


def test_grad_callback_matches_higher() -> None:
    def clip(grads: Any) -> list[Tensor | None]:
        return [None if g is None else g.clamp(-0.05, 0.05) for g in grads]

    out = []
    for ctx in (higher.innerloop_ctx, hh.innerloop_ctx):
        model = mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with ctx(model, opt, copy_initial_weights=False) as (fmodel, diffopt):
            for _ in range(3):
                diffopt.step(mse(fmodel(sinusoid()[0]), sinusoid()[1]), grad_callback=clip)
            mse(fmodel(sinusoid(seed=1)[0]), sinusoid(seed=1)[1]).backward()
        out.append([p.grad for p in model.parameters()])
    assert max_err(out[0], out[1]) < TOL


# ------------------------------------------------------------------ fmodel API
def test_fmodel_behaves_like_highers() -> None:
    model = mlp()
    x, y = sinusoid()
    with hh.innerloop_ctx(model, torch.optim.SGD(model.parameters(), lr=0.1)) as (fmodel, diffopt):
        torch.testing.assert_close(fmodel(x), model(x))
        first = list(fmodel.parameters())
        new = diffopt.step(mse(fmodel(x), y))
        assert [t is u for t, u in zip(new, fmodel.fast_params)] == [True] * 6
        assert [t is u for t, u in zip(fmodel.parameters(time=0), first)] == [True] * 6
        assert [n for n, _ in fmodel.named_parameters()] == [n for n, _ in model.named_parameters()]
        zero = [torch.zeros_like(t) for t in first]
        assert torch.equal(fmodel(x, params=zero), torch.zeros(10, 1, dtype=DTYPE))
        assert fmodel.fast_params[0] is zero[0]  # params= makes them the fast weights, as in higher
        fmodel.eval()
        assert not fmodel.training and model.training
        assert set(fmodel.params) == set(dict(model.named_parameters()))
        with pytest.raises(ValueError, match=r"got 2 tensors for 6 parameters"):
            fmodel.fast_params = zero[:2]
        with pytest.raises(ValueError, match=r"0.weight: shape \[1\], expected \[40, 1\]"):
            fmodel.fast_params = [torch.zeros(1), *zero[1:]]
    with hh.innerloop_ctx(model, torch.optim.SGD(model.parameters(), lr=0.1),
                          track_higher_grads=False) as (fmodel, diffopt):
        diffopt.step(mse(fmodel(x), y))
        with pytest.raises(RuntimeError, match="init_fast_params is only kept with track_higher_grads=True"):
            _ = fmodel.init_fast_params
        with pytest.raises(ValueError, match=r"parameters\(time=1\) needs track_higher_grads=True"):
            fmodel.parameters(time=1)


@pytest.mark.parametrize("copy_initial_weights", [True, False])
def test_the_model_is_never_changed(copy_initial_weights: bool) -> None:
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    before = snapshot(model)
    opt_state_before = dict(opt.state)
    x, y = sinusoid()
    with hh.innerloop_ctx(model, opt, copy_initial_weights=copy_initial_weights) as (fmodel, diffopt):
        for _ in range(3):
            diffopt.step(mse(fmodel(x), y))
        fmodel.eval()
        torch.autograd.grad(mse(fmodel(x), y), list(fmodel.parameters(time=0)))
    assert_unchanged(model, before)
    assert dict(opt.state) == opt_state_before
    with pytest.raises(hh.UnsupportedOptimizerError):
        with hh.innerloop_ctx(model, torch.optim.SGD(model.parameters(), lr=0.1, maximize=True)):
            pass
    assert_unchanged(model, before)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda ps: torch.optim.NAdam(ps), r"got torch.optim.nadam.NAdam \(did you mean torch.optim.Adam"),
        (lambda ps: torch.optim.LBFGS(ps), r"supports the optimisers torch.optim.SGD, torch.optim.Adam, "),
        (lambda ps: torch.optim.SGD(ps, lr=0.1, maximize=True), r"option maximize=True .* negated objective"),
        (lambda ps: torch.optim.Adagrad(ps, maximize=True), r"torch.optim.Adagrad option maximize=True"),
    ],
)
def test_unsupported_optimizers_and_options(make: Callable[[Any], torch.optim.Optimizer], match: str) -> None:
    model = mlp()
    with pytest.raises(hh.UnsupportedOptimizerError, match=match):
        with hh.innerloop_ctx(model, make(model.parameters())):
            pass


def test_bad_arguments() -> None:
    model = mlp()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    stranger = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="not parameters of the model"):
        with hh.innerloop_ctx(model, stranger):
            pass
    with pytest.raises(ValueError, match=r"override\['lr'\] has 2 values but the optimiser has 1"):
        with hh.innerloop_ctx(model, sgd, override={"lr": [0.1, 0.2]}):
            pass
    with pytest.raises(TypeError, match=r"write override=\{'lr': \[value\]\}"):
        with hh.innerloop_ctx(model, sgd, override={"lr": 0.1}):  # type: ignore[dict-item]
            pass
    with pytest.raises(TypeError, match="hyperfunc.inner.adapt"):
        with hh.innerloop_ctx(model, SGD(lr=0.1)):  # type: ignore[arg-type]
            pass
    x, y = sinusoid()
    with hh.innerloop_ctx(model, sgd) as (fmodel, diffopt):
        with pytest.raises(ValueError, match="the loss has no autograd graph"):
            diffopt.step(mse(fmodel(x), y).detach())
        with pytest.raises(ValueError, match=r"scalar loss tensor, got shape \[10, 1\]"):
            diffopt.step((fmodel(x) - y) ** 2)
        with pytest.raises(hh.UnsupportedOptimizerError, match="maximize=True"):
            diffopt.step(mse(fmodel(x), y), override={"maximize": [True]})


def test_second_order_through_a_once_differentiable_model_raises() -> None:
    model = OnceDifferentiable()
    x, y = sinusoid()
    with hh.innerloop_ctx(model, torch.optim.SGD(model.parameters(), lr=0.01)) as (fmodel, diffopt):
        with pytest.raises(SecondOrderError, match="track_higher_grads=False"):
            diffopt.step(mse(fmodel(x), y))
    with hh.innerloop_ctx(model, torch.optim.SGD(model.parameters(), lr=0.01),
                          track_higher_grads=False) as (fmodel, diffopt):
        diffopt.step(mse(fmodel(x), y))
