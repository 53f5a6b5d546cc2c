"""Tests for the hyperfunc-resnet plugin; run them after ``pip install`` of the package."""

from __future__ import annotations

from collections.abc import Iterator

import hyperfunc as hf
import pytest
import torch
from torch import Tensor, nn

import hyperfunc_resnet
from hyperfunc_resnet import CifarResNet, PadShortcut, resnet20, resnet32, resnet56


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # The tensors here are tiny: intra-op threads only add overhead, and on a busy
    # machine (more runnable processes than cores) OpenMP spinning makes every op
    # ~100x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ------------------------------------------------------------- registration
def test_names_include_resnets() -> None:
    names = hf.targets.names()
    assert {"resnet20", "resnet32", "resnet56"} <= set(names)
    assert "resnet20" in hf.targets.registry


def test_get_returns_this_packages_factory() -> None:
    assert hf.targets.get("resnet20") is hyperfunc_resnet.resnet20
    assert hf.targets.get("resnet32") is hyperfunc_resnet.resnet32
    assert hf.targets.get("resnet56") is hyperfunc_resnet.resnet56


def test_entries_report_distribution_and_description() -> None:
    entries = {e.name: e for e in hf.targets.entries()}
    for name in ("resnet20", "resnet32", "resnet56"):
        e = entries[name]
        assert e.source == "hyperfunc-resnet"
        assert e.value == f"hyperfunc_resnet:{name}"
        assert e.description.startswith(f"ResNet-{name[6:]} ")


# ------------------------------------------------------------- architecture
def test_param_counts_match_paper() -> None:
    # He et al. 2016, Table 6: 0.27M, 0.46M, 0.85M.
    assert _n_params(resnet20()) == 269_722
    assert _n_params(resnet32()) == 464_154
    assert _n_params(resnet56()) == 853_018


def test_depth_is_6n_plus_2() -> None:
    for factory, depth in ((resnet20, 20), (resnet32, 32), (resnet56, 56)):
        net = factory()
        n_weighted = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in net.modules())
        assert n_weighted == depth
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(depth=21)


def test_shortcuts_have_no_parameters() -> None:
    net = resnet20()
    shortcuts = [m for m in net.modules() if isinstance(m, PadShortcut)]
    assert len(shortcuts) == 2  # first block of stages 2 and 3
    assert all(_n_params(m) == 0 for m in shortcuts)
    x = torch.randn(2, 16, 8, 8)
    y = PadShortcut(16, 32, 2)(x)
    assert y.shape == (2, 32, 4, 4)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert bool((y[:, 16:] == 0).all())


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_output_shapes(norm: str) -> None:
    net = resnet20(num_classes=7, in_channels=1, width=8, norm=norm)
    assert net(torch.randn(2, 1, 16, 16)).shape == (2, 7)
    feats = resnet20(num_classes=0, width=8, norm=norm)
    assert feats(torch.randn(2, 3, 16, 16)).shape == (2, 32)


def test_bad_norm_raises_naming_choices() -> None:
    with pytest.raises(ValueError, match="'batch', 'group', 'none'") as info:
        resnet20(norm="layer")
    assert "'layer'" in str(info.value)


def test_bad_sizes_raise() -> None:
    with pytest.raises(ValueError, match="width"):
        resnet20(width=0)
    with pytest.raises(ValueError, match="num_classes"):
        resnet20(num_classes=-1)


# ------------------------------------------------------------- with hyperfunc
def test_stateless_eval_matches_module() -> None:
    torch.manual_seed(0)
    net = resnet20()
    # give the running statistics non-trivial values
    with torch.no_grad():
        net.train()(torch.randn(8, 3, 32, 32))
    net.eval()
    target = hf.stateless(net)
    assert not target.training
    x = torch.randn(2, 3, 32, 32)
    params = dict(net.named_parameters())
    torch.testing.assert_close(target(params, x), net(x), rtol=1e-5, atol=1e-5)


def _two_weight_sets(net: nn.Module) -> tuple[dict[str, Tensor], list[dict[str, Tensor]]]:
    torch.manual_seed(1)
    singles = []
    for _ in range(2):
        other = resnet20(width=8)
        with torch.no_grad():
            for p in other.parameters():
                p.add_(0.05 * torch.randn_like(p))  # norm affine weights differ too
        singles.append({k: v.detach() for k, v in other.named_parameters()})
    assert set(singles[0]) == {k for k, _ in net.named_parameters()}
    batch = {k: torch.stack([s[k] for s in singles]) for k in singles[0]}
    return batch, singles


def test_batched_matches_loop_in_train_mode() -> None:
    net = resnet20(width=8).train()
    target = hf.stateless(net)
    assert target.training
    running_before = {k: v.clone() for k, v in target.buffers.items()}
    batch, singles = _two_weight_sets(net)
    x = torch.randn(4, 3, 16, 16)
    out = target.batched(batch, x, shared=True)
    assert out.shape == (2, 4, 10)
    loop = torch.stack([target(p, x) for p in singles])
    torch.testing.assert_close(out, loop, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out[0], out[1])
    # a target never updates running statistics
    for k, v in target.buffers.items():
        torch.testing.assert_close(v, running_before[k], rtol=0, atol=0)


def test_batched_matches_loop_group_norm_per_set_inputs() -> None:
    net = resnet20(width=8, norm="group")
    target = hf.stateless(net)
    params = target.init_params((2,))
    x = torch.randn(2, 3, 3, 16, 16)  # one input batch per weight set
    out = target.batched(params, x)
    loop = torch.stack([target({k: v[i] for k, v in params.items()}, x[i]) for i in range(2)])
    torch.testing.assert_close(out, loop, rtol=1e-5, atol=1e-5)


def test_trains_a_few_sgd_steps() -> None:
    torch.manual_seed(2)
    net = resnet20(width=8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    losses = []
    for _ in range(3):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        torch.autograd.backward(loss)
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(v, before[k]) for k, v in net.named_parameters())


def test_gradients_flow_through_stateless_target() -> None:
    net = resnet20(width=8)
    target = hf.stateless(net)
    params = {k: v.detach().requires_grad_() for k, v in net.named_parameters()}
    x = torch.randn(2, 3, 16, 16)
    target(params, x).square().mean().backward()
    assert all(p.grad is not None for p in params.values())
