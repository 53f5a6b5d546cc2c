import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import hyperfunc as hf

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
specs = st.lists(shapes, min_size=1, max_size=5).map(
    lambda ss: hf.ParamSpec([f"p{i}" for i in range(len(ss))], ss)
)
batch_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


def test_from_module_names_shapes_dtypes() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2).double())
    spec = hf.ParamSpec.from_module(net)
    assert spec.names == ("0.weight", "0.bias", "2.weight", "2.bias")
    assert spec.shapes == ((4, 3), (4,), (2, 4), (2,))
    assert spec.dtypes == (torch.float32, torch.float32, torch.float64, torch.float64)
    assert spec.size == 12 + 4 + 8 + 2
    assert spec.offsets == (0, 12, 16, 24)
    assert spec.slice_of("2.weight") == slice(16, 24)


def test_tied_parameters_appear_once() -> None:
    a = nn.Linear(3, 3)
    net = nn.Sequential(a, nn.Tanh(), a)
    assert hf.ParamSpec.from_module(net).names == ("0.weight", "0.bias")


def test_spec_is_frozen_and_comparable() -> None:
    s1 = hf.ParamSpec.from_module(nn.Linear(2, 2))
    s2 = hf.ParamSpec.from_module(nn.Linear(2, 2))
    assert s1 == s2
    with pytest.raises(AttributeError):
        s1.names = ("x",)  # type: ignore[misc]


def test_invalid_spec_construction() -> None:
    with pytest.raises(ValueError, match="duplicate names"):
        hf.ParamSpec(["a", "a"], [(1,), (2,)])
    with pytest.raises(ValueError, match="2 names but 1 shapes"):
        hf.ParamSpec(["a", "b"], [(1,)])


def test_from_module_rejects_non_module() -> None:
    with pytest.raises(TypeError, match="expects an nn.Module, got dict"):
        hf.ParamSpec.from_module({"w": torch.zeros(1)})  # type: ignore[arg-type]


@given(spec=specs, batch=batch_shapes)
def test_flatten_unflatten_round_trip(spec: hf.ParamSpec, batch: tuple[int, ...]) -> None:
    flat = torch.randn((*batch, spec.size))
    params = spec.unflatten(flat)
    assert list(params) == list(spec.names)
    for name, shape in zip(spec.names, spec.shapes):
        assert params[name].shape == (*batch, *shape)
    assert torch.equal(spec.flatten(params), flat)
    assert spec.validate(params) == torch.Size(batch)


@given(spec=specs, batch=batch_shapes)
def test_unflatten_flatten_round_trip_from_dict(spec: hf.ParamSpec, batch: tuple[int, ...]) -> None:
    params = {n: torch.randn((*batch, *s)) for n, s in zip(spec.names, spec.shapes)}
    again = spec.unflatten(spec.flatten(params))
    for n in spec.names:
        assert torch.equal(again[n], params[n])


def test_unflatten_keeps_per_tensor_dtypes() -> None:
    spec = hf.ParamSpec(["a", "b"], [(2,), (3,)], [torch.float32, torch.float64])
    out = spec.unflatten(torch.randn(5, dtype=torch.float64))
    assert out["a"].dtype == torch.float32 and out["b"].dtype == torch.float64


def test_validate_reports_every_problem_at_once() -> None:
    spec = hf.ParamSpec(["w", "b", "c"], [(2, 3), (2,), (4,)])
    bad = {"w": torch.zeros(2, 4), "b": torch.zeros(2, dtype=torch.float64), "extra": torch.zeros(1)}
    with pytest.raises(hf.SpecMismatchError) as info:
        spec.validate(bad)
    msg = str(info.value)
    assert "Missing key(s): 'c'" in msg
    assert "Unexpected key(s): 'extra'" in msg
    assert "'w': expected shape [*batch, 2, 3]" in msg and "got [2, 4]" in msg
    assert "'b': expected dtype torch.float32, got torch.float64" in msg
    assert "4 problem(s)" in msg


def test_validate_inconsistent_batch_dims() -> None:
    spec = hf.ParamSpec(["w", "b"], [(2, 3), (2,)])
    with pytest.raises(hf.SpecMismatchError, match="different leading batch shapes"):
        spec.validate({"w": torch.zeros(5, 2, 3), "b": torch.zeros(4, 2)})
    with pytest.raises(hf.SpecMismatchError, match=r"expected batch shape \[7\]"):
        spec.validate({"w": torch.zeros(5, 2, 3), "b": torch.zeros(5, 2)}, batch_shape=(7,))


def test_unflatten_wrong_size_names_expected_size() -> None:
    spec = hf.ParamSpec(["w"], [(2, 3)])
    with pytest.raises(hf.SpecMismatchError, match=r"\[\*batch, 6\].*got \[4, 5\]"):
        spec.unflatten(torch.zeros(4, 5))


def test_diff_lists_differences() -> None:
    a = hf.ParamSpec.from_module(nn.Linear(2, 3))
    b = hf.ParamSpec.from_module(nn.Sequential(nn.Linear(2, 4)))
    d = a.diff(b)
    assert any("only in the first" in x for x in d) and any("only in the second" in x for x in d)
    assert a.diff(a) == []


def test_select_subset() -> None:
    spec = hf.ParamSpec(["a", "b", "c"], [(2,), (3, 1), (4,)], [torch.float32, torch.float64, torch.float32])
    sub = spec.select(["c", "b"])
    assert sub.names == ("c", "b") and sub.shapes == ((4,), (3, 1))
    assert sub.dtypes == (torch.float32, torch.float64) and sub.size == 7
    with pytest.raises(KeyError, match="'z' is not in this spec"):
        spec.select(["z"])
