"""Entry points after pip install, the public API's documentation, and the doctests."""

from __future__ import annotations

import doctest
import importlib
import importlib.metadata as md
import inspect
import subprocess
import sys
from typing import Any

import hyperfunc as hf
import pytest
from hyperfunc.run import families

import hyperfunc_pointclouds
from hyperfunc_pointclouds import HyperCloud, PointCloudFamily, PointNetEncoder, hypercloud, shapes

ENTRY_POINTS = {
    "hyperfunc.targets": ("hypercloud", "hyperfunc_pointclouds:hypercloud"),
    "hyperfunc.embeddings": ("pointnet", "hyperfunc_pointclouds:PointNetEncoder"),
    "hyperfunc.tasks": ("shapes", "hyperfunc_pointclouds:shapes"),
    "hyperfunc.methods": ("hypercloud", "hyperfunc_pointclouds:HyperCloud"),
    "hyperfunc.families": ("pointclouds", "hyperfunc_pointclouds._family:PointCloudFamily"),
}
REGISTRIES = {
    "hyperfunc.targets": hf.targets,
    "hyperfunc.embeddings": hf.embeddings,
    "hyperfunc.tasks": hf.tasks,
    "hyperfunc.methods": hf.methods,
    "hyperfunc.families": families,
}

MODULES = [
    "hyperfunc_pointclouds._chamfer",
    "hyperfunc_pointclouds._encoder",
    "hyperfunc_pointclouds._evaluate",
    "hyperfunc_pointclouds._family",
    "hyperfunc_pointclouds._io",
    "hyperfunc_pointclouds._model",
    "hyperfunc_pointclouds._plot",
    "hyperfunc_pointclouds._sampling",
    "hyperfunc_pointclouds._shapes",
    "hyperfunc_pointclouds._target",
]


# -------------------------------------------------------------- entry points
def test_distribution_declares_the_entry_points() -> None:
    dist = md.distribution("hyperfunc-pointclouds")
    declared = {(ep.group, ep.name, ep.value) for ep in dist.entry_points}
    assert declared == {(g, n, v) for g, (n, v) in ENTRY_POINTS.items()}  # no console script


def test_registries_find_the_plugin() -> None:
    assert "hypercloud" in hf.targets.names()
    assert "pointnet" in hf.embeddings.names()
    assert "shapes" in hf.tasks.names()
    assert hf.targets.get("hypercloud") is hypercloud
    assert hf.embeddings.get("pointnet") is PointNetEncoder
    assert hf.tasks.get("shapes") is shapes
    assert hf.methods.get("hypercloud") is HyperCloud
    assert families.get("pointclouds") is PointCloudFamily


@pytest.mark.parametrize("group", sorted(ENTRY_POINTS))
def test_entries_report_distribution_and_description(group: str) -> None:
    name, value = ENTRY_POINTS[group]
    registry: Any = REGISTRIES[group]
    [entry] = [e for e in registry.entries() if e.name == name]
    assert entry.source == "hyperfunc-pointclouds" and entry.value == value
    obj = registry.get(name)
    assert obj.__doc__ is not None and entry.description == obj.__doc__.strip().splitlines()[0]


def test_registered_objects_work_together() -> None:
    target = hf.stateless(hf.targets.get("hypercloud")())
    encoder = hf.embeddings.get("pointnet")(dim=16)
    data = hf.tasks.get("shapes")(num_clouds=3, num_points=64)
    hnet = hf.hypernets.Chunked(target, in_features=16, chunk_size=2000, hidden=(32,))
    f = hf.compose(hnet, target)
    out = f(encoder(data.points), data.points)  # each object's target maps its own points
    assert out.shape == (3, 64, 3)


def test_names_do_not_import_the_plugin() -> None:
    code = (
        "import sys, hyperfunc as hf\n"
        "assert 'shapes' in hf.tasks.names() and 'pointnet' in hf.embeddings.names()\n"
        "print('hyperfunc_pointclouds' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------- documentation
def test_public_names_are_exported_and_documented() -> None:
    names = hyperfunc_pointclouds.__all__
    assert sorted(names) == sorted(set(names))
    for name in names:
        obj = getattr(hyperfunc_pointclouds, name)
        if name == "__version__":
            assert obj == md.version("hyperfunc-pointclouds")
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and callable(member):
                        assert member.__doc__, f"{name}.{attr}"


@pytest.mark.parametrize("modname", ["hyperfunc_pointclouds", *MODULES])
def test_modules_define_all(modname: str) -> None:
    module = importlib.import_module(modname)
    assert module.__doc__
    for name in module.__all__:
        assert hasattr(module, name), f"{modname}.{name}"


@pytest.mark.parametrize("modname", MODULES)
def test_docstring_examples_run(modname: str) -> None:
    module = importlib.import_module(modname)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {modname}"
