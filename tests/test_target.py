import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

import hyperfunc as hf


def params_of(m: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in m.named_parameters()}


def state_snapshot(m: nn.Module) -> dict[str, object]:
    return {
        "state": {k: v.clone() for k, v in m.state_dict().items()},
        "ids": [id(p) for p in m.parameters()],
        "devices": {p.device for p in m.parameters()},
        "training": [x.training for x in m.modules()],
        "grads": [p.grad for p in m.parameters()],
    }


def assert_unchanged(m: nn.Module, before: dict[str, object]) -> None:
    after = state_snapshot(m)
    assert after["ids"] == before["ids"] and after["devices"] == before["devices"]
    assert after["training"] == before["training"] and after["grads"] == before["grads"]
    for k, v in before["state"].items():  # type: ignore[attr-defined]
        assert torch.equal(after["state"][k], v), k  # type: ignore[index]


class RawParams(nn.Module):
    """A custom module with raw nn.Parameters and a non-Linear computation."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 4))
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(x @ self.w) * self.scale


MODULES = {
    "mlp": lambda: hf.targets.mlp(3, 2, hidden=(5, 5)),
    "conv4-eval": lambda: hf.targets.conv4(1, 5, hidden=8, image_size=16).eval(),
    "conv-groupnorm": lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.ReLU()),
    "layernorm": lambda: nn.Sequential(nn.Linear(3, 6), nn.LayerNorm(6), nn.Linear(6, 2)),
    "raw-params": RawParams,
    "siren": lambda: hf.targets.siren(3, 2, hidden=(8, 8), w0=5.0),
}


def example_input(name: str, batch: int = 4) -> Tensor:
    if name.startswith("conv"):
        return torch.randn(batch, 1, 16, 16)
    return torch.randn(batch, 3)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_call_equals_module(name: str) -> None:
    net = MODULES[name]()
    before = state_snapshot(net)
    target = hf.stateless(net)
    x = example_input(name)
    out = target(params_of(net), x)
    torch.testing.assert_close(out, net(x))
    assert_unchanged(net, before)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_batched_equals_loop(name: str) -> None:
    net = MODULES[name]()
    target = hf.stateless(net)
    params = target.init_params((3,))
    x = torch.stack([example_input(name) for _ in range(3)])
    out = target.batched(params, x, fast=False)
    loop = torch.stack([target({k: v[i] for k, v in params.items()}, x[i]) for i in range(3)])
    torch.testing.assert_close(out, loop, rtol=1e-5, atol=1e-5)
    shared = target.batched(params, x[0], shared=True)
    loop = torch.stack([target({k: v[i] for k, v in params.items()}, x[0]) for i in range(3)])
    torch.testing.assert_close(shared, loop, rtol=1e-5, atol=1e-5)


def test_module_unchanged_after_failing_call() -> None:
    net = hf.targets.conv4(1, 5, hidden=8, image_size=16)
    before = state_snapshot(net)
    target = hf.stateless(net)
    with pytest.raises(hf.SpecMismatchError):
        target({"nope": torch.zeros(1)}, torch.randn(2, 1, 16, 16))
    with pytest.raises(RuntimeError):  # wrong image size fails inside the forward
        target(params_of(net), torch.randn(2, 1, 3, 3))
    assert_unchanged(net, before)


def test_target_holds_no_trainable_state() -> None:
    net = hf.targets.mlp(3, 2)
    target = hf.stateless(net)
    assert all(p.device.type == "meta" and not p.requires_grad for p in target.module.parameters())
    assert not isinstance(target, nn.Module)  # an optimiser can never pick up its weights


def test_batchnorm_policy_train_uses_batch_stats_and_never_updates_buffers() -> None:
    net = hf.targets.conv4(1, 5, hidden=8, image_size=16)  # training mode
    target = hf.stateless(net)
    buffers_before = {k: v.clone() for k, v in target.buffers.items()}
    x = torch.randn(6, 1, 16, 16)
    out = target(params_of(net), x)
    ref = copy.deepcopy(net)(x)  # the module in train mode also uses batch statistics
    torch.testing.assert_close(out, ref)
    for k, v in target.buffers.items():
        assert torch.equal(v, buffers_before[k]), f"buffer {k} changed"


def test_batchnorm_policy_eval_uses_given_buffers() -> None:
    net = hf.targets.conv4(1, 5, hidden=8, image_size=16)
    with torch.no_grad():  # give the module non-trivial running statistics
        net(torch.randn(32, 1, 16, 16) * 3 + 1)
    target = hf.stateless(net).eval()
    x = torch.randn(4, 1, 16, 16)
    torch.testing.assert_close(target(params_of(net), x), copy.deepcopy(net).eval()(x))
    # explicit buffers replace the stored ones
    other = {k: (v.clone() + 1 if v.is_floating_point() else v.clone()) for k, v in target.buffers.items()}
    ref_net = copy.deepcopy(net).eval()
    ref_net.load_state_dict({**params_of(net), **other})
    torch.testing.assert_close(target(params_of(net), x, buffers=other), ref_net(x))
    assert hf.stateless(net).training and not target.training  # .eval() returned a copy
    with pytest.raises(hf.SpecMismatchError, match="buffers do not match"):
        target(params_of(net), x, buffers={})


def test_tied_weights() -> None:
    shared = nn.Linear(4, 4)
    net = nn.Sequential(shared, nn.Tanh(), shared)
    target = hf.stateless(net)
    assert target.spec.names == ("0.weight", "0.bias")
    x = torch.randn(3, 4)
    torch.testing.assert_close(target(params_of(net), x), net(x))
    p = target.init_params((2,))  # different weights per set, still tied inside each
    out = target.batched(p, x, shared=True)
    ref = [nn.functional.linear(torch.tanh(nn.functional.linear(x, p["0.weight"][i], p["0.bias"][i])),
                                p["0.weight"][i], p["0.bias"][i]) for i in range(2)]
    torch.testing.assert_close(out, torch.stack(ref))


def test_grad_transform_matches_autograd() -> None:
    net = hf.targets.mlp(3, 2, hidden=(5,))
    target = hf.stateless(net)
    x, y = torch.randn(8, 3), torch.randn(8, 2)

    def loss(p: dict[str, Tensor]) -> Tensor:
        return ((target(p, x) - y) ** 2).mean()

    g = grad(loss)(params_of(net))
    ((net(x) - y) ** 2).mean().backward()
    for k, p in net.named_parameters():
        torch.testing.assert_close(g[k], p.grad)


def test_user_vmap_over_target() -> None:
    net = hf.targets.mlp(3, 2, hidden=(5,))
    target = hf.stateless(net)
    p = target.init_params((4,))
    x = torch.randn(4, 6, 3)
    out = vmap(target)(p, x)
    torch.testing.assert_close(out, target.batched(p, x))


def test_torch_compile() -> None:
    net = hf.targets.mlp(3, 2, hidden=(5,))
    target = hf.stateless(net)
    p = target.init_params((4,))
    x = torch.randn(4, 6, 3)
    compiled = torch.compile(lambda p, x: target.batched(p, x, fast=False), backend="aot_eager")
    torch.testing.assert_close(compiled(p, x), target.batched(p, x, fast=False))
    fast = torch.compile(lambda p, x: target.batched(p, x), backend="aot_eager")
    torch.testing.assert_close(fast(p, x), target.batched(p, x, fast=False))
    single = torch.compile(lambda q, x: target(q, x), backend="aot_eager")
    q = params_of(net)
    torch.testing.assert_close(single(q, x[0]), net(x[0]))


@pytest.mark.parametrize("shared", [False, True])
def test_fast_path_equals_general_path(shared: bool) -> None:
    target = hf.stateless(hf.targets.siren(2, 3, hidden=(16, 16), w0=10.0))
    assert target.has_fast_path
    p = {k: v.requires_grad_() for k, v in target.init_params((5,)).items()}
    x = torch.randn(7, 2) if shared else torch.randn(5, 7, 2)
    fast = target.batched(p, x, shared=shared)
    slow = target.batched(p, x, shared=shared, fast=False)
    torch.testing.assert_close(fast, slow)
    gf = torch.autograd.grad(fast.square().sum(), list(p.values()))
    gs = torch.autograd.grad(slow.square().sum(), list(p.values()))
    for a, b in zip(gf, gs):
        torch.testing.assert_close(a, b)


def test_fast_path_detection() -> None:
    assert hf.stateless(hf.targets.mlp(2, 2)).has_fast_path
    assert hf.stateless(nn.Sequential(nn.Linear(2, 2, bias=False), nn.GELU(), nn.Linear(2, 1))).has_fast_path
    assert not hf.stateless(hf.targets.conv4(1, 5, hidden=8, image_size=16)).has_fast_path
    assert not hf.stateless(RawParams()).has_fast_path
    hooked = hf.targets.mlp(2, 2)
    hooked[0].register_forward_hook(lambda *a: None)
    assert not hf.stateless(hooked).has_fast_path
    with pytest.raises(ValueError, match="fast=True needs a plain MLP"):
        hf.stateless(RawParams()).batched(hf.stateless(RawParams()).init_params((2,)),
                                          torch.randn(2, 3, 3), fast=True)


def test_mlp_plan_is_a_read_only_view_of_the_fast_path() -> None:
    net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1, bias=False))
    target = hf.stateless(net)
    plan = target.mlp_plan
    assert plan is not None and len(plan) == 3
    assert plan[0] == ("0.weight", "0.bias") and plan[2] == ("2.weight", None)
    assert isinstance(plan[1], nn.Tanh)
    assert isinstance(plan, tuple) and target.mlp_plan == plan and target.mlp_plan is not plan
    assert hf.stateless(hf.targets.conv4(1, 5, hidden=8, image_size=16)).mlp_plan is None
    assert hf.stateless(RawParams()).mlp_plan is None


def test_eval_copy_of_a_plain_mlp_turns_its_dropout_off() -> None:
    net = nn.Sequential(nn.Linear(2, 64), nn.Dropout(0.5), nn.Linear(64, 1))
    train = hf.stateless(net)
    target = train.eval()
    assert target.has_fast_path and train.training and not target.training
    plan, train_plan = target.mlp_plan, train.mlp_plan
    assert plan is not None and train_plan is not None
    assert not plan[1].training and train_plan[1].training  # type: ignore[union-attr]
    p, x = target.init_params((2,)), torch.randn(5, 2)
    fast = target.batched(p, x, shared=True)
    torch.testing.assert_close(fast, target.batched(p, x, shared=True, fast=False))
    torch.testing.assert_close(fast, target.batched(p, x, shared=True))


ACTS = st.sampled_from(["relu", "tanh", "sigmoid", "gelu", "elu", "silu"])


@given(
    widths=st.lists(st.integers(1, 6), min_size=0, max_size=3),
    n_in=st.integers(1, 4),
    n_out=st.integers(1, 3),
    b=st.integers(1, 4),
    n=st.integers(1, 5),
    act=ACTS,
    shared=st.booleans(),
)
def test_batched_equals_looped_random_mlps(
    widths: list[int], n_in: int, n_out: int, b: int, n: int, act: str, shared: bool
) -> None:
    target = hf.stateless(hf.targets.mlp(n_in, n_out, hidden=widths, activation=act))
    p = target.init_params((b,))
    x = torch.randn(n, n_in) if shared else torch.randn(b, n, n_in)
    loop = torch.stack(
        [target({k: v[i] for k, v in p.items()}, x if shared else x[i]) for i in range(b)]
    )
    for fast in (None, False):
        torch.testing.assert_close(target.batched(p, x, shared=shared, fast=fast), loop,
                                   rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ bad input
def test_non_module_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"(?s)expects a torch.nn.Module, got function.*stateless\(net\)"):
        hf.stateless(lambda x: x)  # type: ignore[arg-type]


def test_wrong_names_and_shapes_listed_together() -> None:
    net = hf.targets.mlp(3, 2, hidden=(5,))
    target = hf.stateless(net)
    p = params_of(net)
    p["extra"] = p.pop("0.bias")
    p["2.weight"] = torch.zeros(5, 5)
    with pytest.raises(hf.SpecMismatchError) as info:
        target(p, torch.randn(2, 3))
    msg = str(info.value)
    assert "Missing key(s): '0.bias'" in msg and "Unexpected key(s): 'extra'" in msg
    assert "'2.weight'" in msg


def test_batched_leading_size_mismatch() -> None:
    target = hf.stateless(hf.targets.mlp(3, 2, hidden=(5,)))
    p = target.init_params((4,))
    pattern = r"input 0 should have a leading axis of size 4.*shared=True"
    with pytest.raises(hf.SpecMismatchError, match=pattern):
        target.batched(p, torch.randn(3, 6, 3))
    with pytest.raises(hf.SpecMismatchError, match="exactly one leading batch axis"):
        target.batched(target.init_params((2, 2)), torch.randn(2, 6, 3))
    with pytest.raises(hf.SpecMismatchError, match="expected batch shape"):
        target(p, torch.randn(6, 3))  # batched weights given to a single call


def test_dtype_mismatch() -> None:
    net = hf.targets.mlp(3, 2, hidden=(5,))
    target = hf.stateless(net)
    with pytest.raises(hf.SpecMismatchError, match="expected dtype torch.float32, got torch.float64"):
        target({k: v.double() for k, v in params_of(net).items()}, torch.randn(2, 3).double())
    with pytest.raises(hf.SpecMismatchError, match=r"input 0 has dtype torch.float64.*x.to\(torch.float32\)"):
        target(params_of(net), torch.randn(2, 3, dtype=torch.float64))


def test_device_mismatch() -> None:
    net = hf.targets.mlp(3, 2, hidden=(5,))
    target = hf.stateless(net)
    with pytest.raises(hf.SpecMismatchError, match=r"input 0 is on meta but the weights are on cpu"):
        target(params_of(net), torch.empty(2, 3, device="meta"))


def test_buffer_device_mismatch_and_to() -> None:
    net = hf.targets.conv4(1, 5, hidden=8, image_size=16)
    target = hf.stateless(net).to("meta")
    assert all(b.device.type == "meta" for b in target.buffers.values())
    assert hf.stateless(net).buffers["1.running_mean"].device.type == "cpu"
    with pytest.raises(hf.SpecMismatchError, match=r"buffers are on \['meta'\].*target.to\('cpu'\)"):
        target(params_of(net), torch.randn(2, 1, 16, 16))


def test_non_finite_weights_opt_in() -> None:
    net = hf.targets.mlp(3, 2, hidden=(5,))
    p = params_of(net)
    p["0.weight"][0, 0] = float("nan")
    p["2.bias"][0] = float("inf")
    out = hf.stateless(net)(p, torch.randn(2, 3))  # off by default
    assert torch.isnan(out).any()
    pattern = r"'0.weight' \(1 NaN, 0 inf\), '2.bias' \(0 NaN, 1 inf\)"
    with pytest.raises(hf.NonFiniteWeightsError, match=pattern):
        hf.stateless(net, check_finite=True)(p, torch.randn(2, 3))


def test_spec_from_another_target() -> None:
    a = hf.stateless(hf.targets.mlp(3, 2, hidden=(5,)))
    b = hf.stateless(hf.targets.mlp(3, 2, hidden=(7,)))
    with pytest.raises(hf.SpecMismatchError, match="'0.weight'"):
        b(a.init_params(), torch.randn(2, 3))


def test_functional_call_reference_is_equal() -> None:
    """Sanity: the skeleton gives the same result as torch.func on the real module."""
    net = hf.targets.mlp(3, 2, hidden=(5,))
    p = target_params = params_of(net)
    x = torch.randn(2, 3)
    torch.testing.assert_close(hf.stateless(net)(target_params, x), functional_call(net, p, (x,)))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*torch.jit.*is deprecated:DeprecationWarning")  # torch-internal
def test_torch_compile_inductor_conv_and_mlp() -> None:
    """The default inductor backend (~40 s on 2 CPU cores): batch norm under vmap, and the fast path."""
    conv = hf.stateless(hf.targets.conv4(1, 5, hidden=8, image_size=16))
    p, x = conv.init_params((3,)), torch.randn(3, 4, 1, 16, 16)
    f = torch.compile(lambda p, x: conv.batched(p, x))
    torch.testing.assert_close(f(p, x), conv.batched(p, x), rtol=1e-4, atol=1e-5)
    mlp = hf.stateless(hf.targets.mlp(3, 2, hidden=(5,)))
    q, y = mlp.init_params((4,)), torch.randn(4, 6, 3)
    g = torch.compile(lambda q, y: mlp.batched(q, y))
    torch.testing.assert_close(g(q, y), mlp.batched(q, y, fast=False))


@pytest.mark.parametrize("shared", [False, True])
def test_batched_loop_equals_vmap_values_and_gradients(shared: bool) -> None:
    module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                           nn.Linear(4 * 6 * 6, 3))
    target = hf.stateless(module.double())
    params = {n: p.requires_grad_() for n, p in target.init_params((3,)).items()}
    x = torch.randn(*(() if shared else (3,)), 5, 1, 8, 8, dtype=torch.float64)
    looped = target.batched(params, x, shared=shared, vectorize=False)
    vmapped = target.batched(params, x, shared=shared)
    torch.testing.assert_close(looped, vmapped)
    g1 = torch.autograd.grad(looped.pow(2).sum(), list(params.values()))
    g2 = torch.autograd.grad(vmapped.pow(2).sum(), list(params.values()))
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b)


def test_batched_chooses_a_loop_for_conv_targets_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import hyperfunc._target as module

    conv = hf.stateless(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten()))
    params = conv.init_params((3,))
    x = torch.randn(3, 4, 1, 5, 5)
    looped = conv.batched(params, x, vectorize=False)

    def no_vmap(*args: object, **kwargs: object) -> object:
        raise AssertionError("vmap was used")

    monkeypatch.setattr(module, "vmap", no_vmap)
    torch.testing.assert_close(conv.batched(params, x), looped)  # default: the loop (faster on a CPU)
    with pytest.raises(AssertionError, match="vmap was used"):
        conv.batched(params, x, vectorize=True)  # overridable
    mlp = hf.stateless(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.LayerNorm(3)))
    with pytest.raises(AssertionError, match="vmap was used"):
        mlp.batched(mlp.init_params((3,)), torch.randn(3, 4, 2))  # not convolutional: vmap


def test_the_cpu_loop_over_conv_weight_sets_gives_the_module_s_numbers_in_any_layout() -> None:
    """The loop runs 2-D convolutions channels-last on a CPU: a layout, so the same values and gradients."""
    torch.manual_seed(0)
    net = hf.targets.conv4(num_classes=3, hidden=8).double()
    target = hf.stateless(net)
    sets = [{k: v + 0.01 * i for k, v in target.init_params().items()} for i in range(3)]
    params = {k: torch.stack([s[k] for s in sets]).requires_grad_() for k in sets[0]}
    x = torch.rand(3, 5, 1, 28, 28, dtype=torch.float64)
    out = target.batched(params, x, vectorize=False)
    assert target._layout.channels_last is False  # only while the loop runs
    grads = torch.autograd.grad(out.square().sum(), list(params.values()))
    for i in range(3):  # a plain nn.Module, NCHW, with the same weights
        ref = copy.deepcopy(net)
        with torch.no_grad():
            for k, p in ref.named_parameters():
                p.copy_(params[k][i])
        ref_out = ref(x[i])
        torch.testing.assert_close(out[i], ref_out, rtol=1e-12, atol=1e-12)
        ref_grads = torch.autograd.grad(ref_out.square().sum(), list(ref.parameters()))
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(g[i], r, rtol=1e-10, atol=1e-12)


def test_the_conv_loop_also_runs_inside_a_user_s_vmap() -> None:
    target = hf.stateless(hf.targets.conv4(num_classes=3, hidden=4))
    params = {k: v.expand(2, *v.shape) for k, v in target.init_params().items()}
    x = torch.rand(4, 2, 3, 1, 28, 28)
    out = torch.func.vmap(lambda xs: target.batched(params, xs, vectorize=False))(x)
    assert out.shape == (4, 2, 3, 3)


def test_channels_last_false_keeps_the_default_layout_and_its_exact_numbers() -> None:
    torch.manual_seed(0)
    net = hf.targets.conv4(num_classes=3, hidden=8)
    target = hf.stateless(net, channels_last=False)
    params = target.init_params((2,))
    x = torch.rand(2, 4, 1, 28, 28)
    seen = []
    hook = target._skel[1].register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous()))
    out = target.batched(params, x, vectorize=False)
    hook.remove()
    assert seen == [True, True]  # batch norm got NCHW-contiguous inputs
    for i in range(2):
        assert torch.equal(out[i], target({k: v[i] for k, v in params.items()}, x[i]))
