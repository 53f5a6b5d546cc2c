"""The distribution's name: free on PyPI ("hyperfunc" there is an unrelated project), used by the plugins."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import hyperfunc

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _project(path: Path) -> dict[str, object]:
    with open(path, "rb") as f:
        return tomllib.load(f)["project"]  # type: ignore[no-any-return]


def test_the_import_name_hyperfunc_comes_from_the_torch_hyperfunc_distribution() -> None:
    ours = _project(ROOT / "pyproject.toml")
    assert ours["name"] == hyperfunc._DISTRIBUTION == "torch-hyperfunc"
    scripts = {
        e.name: e.value for e in distribution("torch-hyperfunc").entry_points if e.group == "console_scripts"
    }
    assert scripts == {"hyperfunc": "hyperfunc._cli:main"}
    assert distribution("torch-hyperfunc").version == hyperfunc.__version__ == ours["version"]


@pytest.mark.parametrize("plugin", sorted(p.name for p in (ROOT / "plugins").iterdir() if p.is_dir()))
def test_each_plugin_depends_on_this_distribution_with_a_compatible_range(plugin: str) -> None:
    ours = _project(ROOT / "pyproject.toml")
    deps = [Requirement(d) for d in _project(ROOT / "plugins" / plugin / "pyproject.toml")["dependencies"]]  # type: ignore[attr-defined]
    named = [d for d in deps if d.name == ours["name"]]
    assert named, f"{plugin} does not depend on {ours['name']!r}: {[str(d) for d in deps]}"
    assert not [d for d in deps if d.name == "hyperfunc"], "'hyperfunc' on PyPI is an unrelated project"
    spec = named[0].specifier
    assert spec, f"{plugin} must pin a compatible range of {ours['name']}"
    assert Version(str(ours["version"])) in spec
