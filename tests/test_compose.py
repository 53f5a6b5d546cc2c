import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

import hyperfunc as hf


class HandBuilt(nn.Module):
    """Reference: an MLP hypernetwork whose output is sliced by hand into an MLP's weights."""

    def __init__(self, hnet: hf.hypernets.MLPHyperNet, sizes: list[int]) -> None:
        super().__init__()
        self.trunk, self.head = hnet.trunk, hnet.head
        self.register_buffer("offset", hnet.offset.clone())
        self.register_buffer("scale", hnet.scale.clone())
        self.sizes = sizes

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        flat = self.offset + self.scale * self.head(self.trunk(z))
        outs = []
        for i in range(z.shape[0]):  # plain loop over weight sets
            h, pos = x[i], 0
            pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
            for j, (a, b) in enumerate(pairs):
                w = flat[i, pos : pos + a * b].reshape(b, a)
                pos += a * b
                bias = flat[i, pos : pos + b]
                pos += b
                h = nn.functional.linear(h, w, bias)
                if j < len(pairs) - 1:
                    h = torch.relu(h)
            outs.append(h)
        return torch.stack(outs)


@given(
    hidden=st.lists(st.integers(1, 6), min_size=0, max_size=2),
    b=st.integers(1, 4),
    n=st.integers(1, 4),
)
def test_composed_output_and_gradients_equal_hand_built(hidden: list[int], b: int, n: int) -> None:
    sizes = [3, *hidden, 2]
    target = hf.stateless(hf.targets.mlp(3, 2, hidden=hidden))
    hnet = hf.hypernets.MLPHyperNet(target, 5, hidden=(7,))
    ref = HandBuilt(hnet, sizes)
    z = torch.randn(b, 5, requires_grad=True)
    x = torch.randn(b, n, 3)
    f = hf.compose(hnet, target)

    out = f(z, x)
    g = torch.autograd.grad(out.sin().sum(), [z, *hnet.parameters()])
    out_ref = ref(z, x)
    g_ref = torch.autograd.grad(out_ref.sin().sum(), [z, *ref.parameters()])
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-6)
    for a, r in zip(g, g_ref):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-6)


def test_compose_single_and_shared_inputs() -> None:
    target = hf.stateless(hf.targets.mlp(2, 3, hidden=(8,)))
    hnet = hf.hypernets.Chunked(target, 4, chunk_size=10)
    z, x = torch.randn(5, 4), torch.randn(7, 2)
    batched = hf.compose(hnet, target, shared=True)(z, x)
    single = torch.stack([hf.compose(hnet, target)(z[i], x) for i in range(5)])
    torch.testing.assert_close(batched, single)
    with pytest.raises(ValueError, match=r"z must be \[d\].*got \[1, 5, 4\]"):
        hf.compose(hnet, target)(z[None], x)


def test_compose_gradients_reach_embeddings() -> None:
    target = hf.stateless(hf.targets.mlp(2, 3, hidden=(8,)))
    table = hf.embeddings.TaskTable(4, 6)
    hnet = hf.hypernets.MLPHyperNet(target, 6, hidden=(10,))
    f = hf.compose(hnet, target)
    f(table(torch.tensor([0, 2])), torch.randn(2, 5, 2)).sum().backward()
    assert table.weight.grad is not None
    assert table.weight.grad[[0, 2]].abs().sum() > 0 and table.weight.grad[[1, 3]].abs().sum() == 0


def test_compose_rejects_hypernet_for_another_target() -> None:
    a = hf.stateless(hf.targets.mlp(2, 3, hidden=(8,)))
    b = hf.stateless(hf.targets.mlp(2, 3, hidden=(9,)))
    pattern = r"different target.*'0.weight': shape \[8, 2\] vs \[9, 2\]"
    with pytest.raises(hf.SpecMismatchError, match=pattern):
        hf.compose(hf.hypernets.MLPHyperNet(a, 4), b)
    with pytest.raises(TypeError, match="wrap the module with hyperfunc.stateless"):
        hf.compose(hf.hypernets.MLPHyperNet(a, 4), hf.targets.mlp(2, 3))  # type: ignore[arg-type]


def test_compose_check_finite() -> None:
    target = hf.stateless(hf.targets.mlp(2, 3, hidden=(8,)))
    hnet = hf.hypernets.MLPHyperNet(target, 4)
    with torch.no_grad():
        hnet.head.bias[0] = float("nan")
    f = hf.compose(hnet, target, check_finite_weights=True)
    with pytest.raises(hf.NonFiniteWeightsError, match="'0.weight'"):
        f(torch.randn(2, 4), torch.randn(2, 3, 2))


def test_snapshot_and_call_at_is_functional() -> None:
    target = hf.stateless(hf.targets.mlp(2, 3, hidden=(8,)))
    hnet = hf.hypernets.Chunked(target, 4, chunk_size=10)
    z = torch.randn(3, 4)
    frozen = hf.snapshot(hnet)
    before = {k: v.detach().clone() for k, v in hnet(z).items()}
    opt = torch.optim.SGD(hnet.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        hnet(z)["0.weight"].square().sum().backward()
        opt.step()
    assert not torch.allclose(hnet(z)["0.weight"], before["0.weight"])
    ids = [id(p) for p in hnet.parameters()]
    old = hf.call_at(hnet, frozen, z)
    for k, v in before.items():
        torch.testing.assert_close(old[k], v)
    assert [id(p) for p in hnet.parameters()] == ids
    # the regulariser's target is constant: no gradient reaches the hypernetwork through it
    opt.zero_grad()
    assert not any(v.requires_grad for v in old.values())
    with pytest.raises(hf.SpecMismatchError, match=r"missing \['chunk_embeddings'"):
        hf.call_at(hnet, {k: v for k, v in frozen.items() if k != "chunk_embeddings"}, z)
