import pytest
import torch
from torch import nn

import hyperfunc as hf
from hyperfunc.hypernets import Additive, Chunked, HyperNetwork, LowRank, Mask, MLPHyperNet, PerTensor

FAMILIES = {
    "mlp": lambda t, d: MLPHyperNet(t, d, hidden=(64, 64)),
    "chunked": lambda t, d: Chunked(t, d, chunk_size=512, hidden=(64, 64)),
    "per-tensor": lambda t, d: PerTensor(t, d, hidden=(64,)),
    "low-rank": lambda t, d: LowRank(t, d, rank=8, hidden=(64,)),
    "additive": lambda t, d: Additive(t, d, hidden=(32,)),
    "mask": lambda t, d: Mask(t, d, hidden=(32,)),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_output_matches_spec_with_any_batch(family: str, batch: tuple[int, ...]) -> None:
    target = hf.stateless(hf.targets.mlp(5, 3, hidden=(16,)))
    hnet = FAMILIES[family](target, 8)
    assert isinstance(hnet, HyperNetwork) and isinstance(hnet, nn.Module)
    params = hnet(torch.randn((*batch, 8)))
    assert target.spec.validate(params) == torch.Size(batch)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_gradients_reach_every_trainable_parameter(family: str) -> None:
    target = hf.stateless(hf.targets.mlp(5, 3, hidden=(16,)))
    hnet = FAMILIES[family](target, 8)
    out = hf.compose(hnet, target)(torch.randn(4, 8), torch.randn(4, 10, 5))
    out.square().mean().backward()
    for name, p in hnet.named_parameters():
        assert p.grad is not None, name
    # zero-initialised heads (Additive) get gradient on the first step; others everywhere
    nonzero = [n for n, p in hnet.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert any(n.startswith("head") for n in nonzero)


def _linear_targets() -> list[hf.Target]:
    return [
        hf.stateless(hf.targets.mlp(256, 10, hidden=(128, 64))),
        hf.stateless(nn.Sequential(nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3))),
    ]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_hyperfan_initialisation_matches_pytorch_default_variance(family: str) -> None:
    """Generated weights start with Var = 1/(3·fan_in), PyTorch's default for Linear/Conv."""
    for target in _linear_targets():
        hnet = FAMILIES[family](target, 16)
        with torch.no_grad():
            params = hnet(torch.randn(64, 16))
        for name, shape in zip(target.spec.names, target.spec.shapes):
            if len(shape) < 2:
                continue  # biases: too few elements for a tight estimate
            fan_in = torch.tensor(shape[1:]).prod().item()
            expected = 1.0 / (3.0 * fan_in)
            ratio = params[name].var().item() / expected
            assert 0.75 < ratio < 1.33, f"{family} {name}: variance ratio {ratio:.3f}"


def test_init_uses_targets_own_statistics_siren_and_norm() -> None:
    target = hf.stateless(nn.Sequential(hf.targets.siren(2, 3, hidden=(256, 256), w0=30.0),
                                        nn.LayerNorm(3)))
    hnet = MLPHyperNet(target, 16, hidden=(64,))
    with torch.no_grad():
        p = hnet(torch.randn(64, 16))
    # siren hidden layer: U(±sqrt(6/256)/30) → var = (6/256)/900/3
    ratio = p["0.2.weight"].var().item() / ((6 / 256) / 900 / 3)
    assert 0.75 < ratio < 1.33
    # LayerNorm weight is initialised to ones: generated weights start close to 1
    assert (p["1.weight"] - 1).abs().max() < 0.1


def test_spec_only_uses_pytorch_default_statistics() -> None:
    spec = hf.ParamSpec.from_module(nn.Linear(300, 200))
    with torch.no_grad():
        p = MLPHyperNet(spec, 8, hidden=(32,))(torch.randn(64, 8))
    ratio = p["weight"].var().item() * 3 * 300
    assert 0.75 < ratio < 1.33


def test_chunked_compresses_below_target_size() -> None:
    target = hf.stateless(hf.targets.mlp(784, 10, hidden=(100, 100)))
    hnet = Chunked(target, 32, chunk_size=500, chunk_dim=8, hidden=(50,))
    assert hnet.num_chunks == -(-target.spec.size // 500)
    assert hnet.compression_ratio < 0.5
    assert target.spec.validate(hnet(torch.randn(2, 32))) == torch.Size([2])


def test_low_rank_weights_have_the_requested_rank() -> None:
    target = hf.stateless(hf.targets.mlp(40, 10, hidden=(30,)))
    hnet = LowRank(target, 8, rank=3)
    with torch.no_grad():
        w = hnet(torch.randn(8))["0.weight"]
    assert torch.linalg.matrix_rank(w - hnet.offset[target.spec.slice_of("0.weight")].reshape(30, 40)) == 3


def test_additive_starts_at_base_and_updates_only_included() -> None:
    target = hf.stateless(hf.targets.mlp(4, 2, hidden=(8,)))
    hnet = Additive(target, 6, include=["2.weight", "2.bias"])
    z = torch.randn(5, 6)
    p = hnet(z)
    base = hnet.base_params()
    for name in target.spec.names:
        torch.testing.assert_close(p[name], base[name].expand_as(p[name]))
    with torch.no_grad():
        hnet.head.weight.normal_()
    p = hnet(z)
    assert torch.equal(p["0.weight"][0], base["0.weight"])  # excluded: always the base
    assert not torch.allclose(p["2.weight"][0], base["2.weight"])
    with pytest.raises(ValueError, match=r"include names \['nope'\] are not parameters"):
        Additive(target, 6, include=["nope"])


def test_additive_accepts_given_base_weights() -> None:
    net = hf.targets.mlp(4, 2, hidden=(8,))
    target = hf.stateless(net)
    hnet = Additive(target, 6, base=dict(net.named_parameters()))
    p = hnet(torch.randn(6))
    for name, w in net.named_parameters():
        torch.testing.assert_close(p[name], w.detach())


def test_mask_sparsity_and_range() -> None:
    target = hf.stateless(hf.targets.mlp(20, 4, hidden=(30,)))
    hnet = Mask(target, 6, sparsity=0.7)
    masks = hnet.masks(torch.randn(5, 6))
    assert set(masks) == {"0.weight", "2.weight"}  # weights only by default
    for m in masks.values():
        assert ((m >= 0) & (m <= 1)).all()
        zero_frac = (m == 0).flatten(1).float().mean(1)
        assert (zero_frac >= 0.69).all() and (zero_frac <= 0.75).all()
    p = hnet(torch.randn(5, 6))
    torch.testing.assert_close(p["0.bias"][0], hnet.base_params()["0.bias"])
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        Mask(target, 6, sparsity=1.0)


def test_bad_conditioning_input() -> None:
    target = hf.stateless(hf.targets.mlp(4, 2, hidden=(8,)))
    hnet = Chunked(target, 6, chunk_size=16)
    pattern = r"expects conditioning vectors of shape \[\.\.\., 6\], got \[3, 5\]"
    with pytest.raises(ValueError, match=pattern):
        hnet(torch.randn(3, 5))
    with pytest.raises(TypeError, match="must be floating point"):
        hnet(torch.zeros(3, 6, dtype=torch.long))
    with pytest.raises(TypeError, match="built for a Target"):
        MLPHyperNet(nn.Linear(2, 2), 4)  # type: ignore[arg-type]


def test_registry_builds_each_family() -> None:
    target = hf.stateless(hf.targets.mlp(4, 2, hidden=(8,)))
    for name in ["mlp", "chunked", "per-tensor", "low-rank", "additive", "mask"]:
        hnet = hf.hypernets.get(name)(target, 6)
        assert target.spec.validate(hnet(torch.randn(2, 6))) == torch.Size([2])


def test_state_dict_round_trip_and_optimiser() -> None:
    target = hf.stateless(hf.targets.mlp(4, 2, hidden=(8,)))
    a, b = Chunked(target, 6, chunk_size=16), Chunked(target, 6, chunk_size=16)
    b.load_state_dict(a.state_dict())
    z = torch.randn(3, 6)
    for k, v in a(z).items():
        torch.testing.assert_close(v, b(z)[k])
    opt = torch.optim.Adam(a.parameters(), lr=1e-2)
    before = a(z)["0.weight"].detach().clone()
    a(z)["0.weight"].sum().backward()
    opt.step()
    assert not torch.allclose(a(z)["0.weight"], before)


@pytest.mark.parametrize("family", ["chunked", "mlp", "per-tensor", "low-rank"])
@pytest.mark.parametrize("n_old", [1, 4])
def test_flat_with_penalty_matches_the_plain_formula(family: str, n_old: int) -> None:
    # HNET's regulariser Σ_j ‖flat(z_j) − flat*_j‖² / n: the chunked family computes it
    # in head-output space with a fused autograd function; values and gradients must
    # equal the formula on flat weights (chunk size 7 leaves padding in the last chunk).
    torch.manual_seed(0)
    target = hf.stateless(hf.targets.mlp(5, 3, hidden=(4,)))
    args = {"chunk_size": 7, "hidden": (6,)} if family == "chunked" else {}
    hnet = hf.hypernets.get(family)(target, 4, **args).double()
    z_old = torch.randn(n_old, 4, dtype=torch.float64)
    ref = hnet.reference(z_old)
    stored = hnet.flat(z_old).detach()
    with torch.no_grad():  # move the hypernetwork so the penalty is not zero
        for p in hnet.parameters():
            p.add_(0.1 * torch.randn_like(p))
    z = torch.randn(4, dtype=torch.float64)
    flat, penalty = hnet.flat_with_penalty(z, z_old, ref)
    expected = (hnet.flat(z_old) - stored).pow(2).sum(-1).mean()
    torch.testing.assert_close(flat, hnet.flat(z))
    torch.testing.assert_close(penalty, expected)
    assert float(penalty.detach()) > 0
    params = [p for p in hnet.parameters() if p.requires_grad]
    got = torch.autograd.grad(penalty + flat.sum(), params)
    want = torch.autograd.grad(expected + hnet.flat(z).sum(), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_chunked_penalty_gradcheck() -> None:
    from hyperfunc.hypernets._chunked import _HeadPenalty

    torch.manual_seed(0)
    feats = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(5, dtype=torch.float64, requires_grad=True)
    ref, root = torch.randn(2, 3, 5, dtype=torch.float64), torch.rand(3, 5, dtype=torch.float64)
    penalty = lambda f, w, b: _HeadPenalty.apply(f, w, b, ref, root)  # noqa: E731
    assert torch.autograd.gradcheck(penalty, (feats, weight, bias))
