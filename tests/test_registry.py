"""Registries and plugins, with fake distributions written to a directory on sys.path."""

import sys
import uuid
from pathlib import Path

import pytest
import torch

import hyperfunc as hf
from hyperfunc import DuplicateNameError, PluginLoadError, Registry, UnknownNameError


def fake_dist(
    root: Path, dist: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]
) -> None:
    """Write a minimal installed distribution (dist-info + modules) into ``root``."""
    for name, src in modules.items():
        (root / f"{name}.py").write_text(src)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture
def group() -> str:
    return f"hyperfunc_test_{uuid.uuid4().hex[:8]}.things"


def uniq(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_local_register_get_names() -> None:
    reg: Registry[object] = Registry("things", uniq("grp"))

    @reg.register("alpha")
    def alpha() -> int:
        """Alpha thing."""
        return 1

    reg.register("beta", 2)
    assert reg.get("alpha") is alpha and reg.get("beta") == 2
    assert reg.names() == ["alpha", "beta"]
    assert "alpha" in reg
    first = reg.entries()[0]
    assert (first.name, first.source, first.description) == ("alpha", "<local>", "Alpha thing.")
    with pytest.raises(DuplicateNameError, match="'alpha' is provided more than once: a local register"):
        reg.register("alpha", 3)
    assert reg.get("alpha") is alpha  # unchanged
    reg.unregister("beta")
    assert reg.names() == ["alpha"]


def test_unknown_name_lists_available_and_closest() -> None:
    with pytest.raises(UnknownNameError) as info:
        hf.targets.get("convv4")
    msg = str(info.value)
    assert "can't find 'convv4'" in msg and "Did you mean 'conv4'?" in msg
    assert "Available names: " in msg and "mlp" in msg and "siren" in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, LookupError)


def test_plugin_installed_after_import_is_found(site: Path, group: str) -> None:
    reg: Registry[object] = Registry("things", group)
    assert reg.names() == []
    mod = uniq("late_plugin")
    fake_dist(site, "late-plugin", {group: {"late": f"{mod}:VALUE"}}, {mod: "VALUE = 42\n"})
    assert reg.names() == ["late"]
    assert reg.get("late") == 42
    [entry] = reg.entries()
    assert (entry.name, entry.source, entry.value) == ("late", "late-plugin", f"{mod}:VALUE")


def test_only_the_requested_plugin_is_imported(site: Path, group: str) -> None:
    a, b = uniq("plug_a"), uniq("plug_b")
    fake_dist(site, "plug-a", {group: {"a": f"{a}:obj"}}, {a: "obj = 'A'\n"})
    fake_dist(site, "plug-b", {group: {"b": f"{b}:obj"}}, {b: "obj = 'B'\n"})
    reg: Registry[object] = Registry("things", group)
    assert reg.names() == ["a", "b"]
    assert a not in sys.modules and b not in sys.modules  # names() imports nothing
    assert reg.get("a") == "A"
    assert a in sys.modules and b not in sys.modules


def test_broken_plugin_names_its_distribution_and_spares_others(site: Path, group: str) -> None:
    bad, good = uniq("broken"), uniq("good")
    fake_dist(site, "broken-plugin", {group: {"bad": f"{bad}:thing"}},
              {bad: "raise RuntimeError('boom at import')\n"})
    fake_dist(site, "good-plugin", {group: {"good": f"{good}:thing"}}, {good: "thing = 'ok'\n"})
    reg: Registry[object] = Registry("things", group)
    assert reg.names() == ["bad", "good"]
    with pytest.raises(PluginLoadError) as info:
        reg.get("bad")
    msg = str(info.value)
    assert "'broken-plugin'" in msg and f"bad = '{bad}:thing'" in msg and "boom at import" in msg
    assert isinstance(info.value, ImportError)
    assert reg.get("good") == "ok"
    descriptions = {e.name: e.description for e in reg.entries()}
    assert descriptions["bad"].startswith("(unavailable")


def test_entry_point_pointing_at_missing_attribute(site: Path, group: str) -> None:
    mod = uniq("noattr")
    fake_dist(site, "noattr-plugin", {group: {"x": f"{mod}:does_not_exist"}}, {mod: "y = 1\n"})
    reg: Registry[object] = Registry("things", group)
    with pytest.raises(PluginLoadError, match=r"'noattr-plugin'.*AttributeError.*does_not_exist"):
        reg.get("x")


def test_name_clash_between_plugins_raises(site: Path, group: str) -> None:
    m1, m2 = uniq("clash1"), uniq("clash2")
    fake_dist(site, "clash-one", {group: {"same": f"{m1}:v"}}, {m1: "v = 1\n"})
    fake_dist(site, "clash-two", {group: {"same": f"{m2}:v"}}, {m2: "v = 2\n"})
    reg: Registry[object] = Registry("things", group)
    with pytest.raises(DuplicateNameError, match=r"'same' is provided more than once.*clash-one.*clash-two"):
        reg.get("same")


def test_plugin_never_silently_shadows_local_registration(site: Path, group: str) -> None:
    reg: Registry[object] = Registry("things", group)
    reg.register("mine", "local")
    mod = uniq("shadow")
    fake_dist(site, "shadow-plugin", {group: {"mine": f"{mod}:v"}}, {mod: "v = 'plugin'\n"})
    with pytest.raises(DuplicateNameError, match="a local register.*shadow-plugin"):
        reg.get("mine")
    with pytest.raises(DuplicateNameError):
        reg.register("mine", "again")


def test_real_group_plugin_target_is_usable(site: Path) -> None:
    mod = uniq("tiny_target")
    src = (
        "import torch\n"
        "def tiny(n: int = 3) -> torch.nn.Module:\n"
        "    'A tiny linear target.'\n"
        "    return torch.nn.Linear(n, 1)\n"
    )
    fake_dist(site, "tiny-target", {"hyperfunc.targets": {"tiny-test": f"{mod}:tiny"}}, {mod: src})
    assert "tiny-test" in hf.targets.names()
    target = hf.stateless(hf.targets.get("tiny-test")(4))
    assert target.batched(target.init_params((2,)), torch.randn(5, 4), shared=True).shape == (2, 5, 1)
    assert any(e.name == "tiny-test" and e.source == "tiny-target" for e in hf.targets.entries())


def test_builtins_register_through_entry_points() -> None:
    by_name = {e.name: e for e in hf.targets.entries()}
    assert by_name["mlp"].source == "torch-hyperfunc" and by_name["conv4"].value.endswith(":conv4")
    assert {"mlp", "chunked", "per-tensor", "low-rank", "additive", "mask"} <= set(hf.hypernets.names())
    assert isinstance(hf.tasks.names(), list) and isinstance(hf.methods.names(), list)
