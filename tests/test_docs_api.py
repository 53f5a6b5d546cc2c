"""The documentation covers the public API, and every example in it runs.

* every name in the ``__all__`` of ``hyperfunc`` and of its public subpackages is
  documented in ``docs/api.rst`` under its fully qualified name;
* every documented name exists (no stale entries);
* every public class, function and module has a docstring;
* the ``>>>`` examples in hyperfunc's docstrings and in the guides under ``docs/`` pass.

Plain text parsing only: Sphinx does not need to be installed.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import hyperfunc

DOCS = Path(__file__).resolve().parent.parent / "docs"
API_RST = DOCS / "api.rst"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

PUBLIC_MODULES = [
    "hyperfunc",
    "hyperfunc.hypernets",
    "hyperfunc.embeddings",
    "hyperfunc.targets",
    "hyperfunc.tasks",
    "hyperfunc.methods",
    "hyperfunc.datasets",
    "hyperfunc.continual",
    "hyperfunc.fewshot",
    "hyperfunc.fields",
    "hyperfunc.inner",
    "hyperfunc.higher",
    "hyperfunc.run",
    "hyperfunc.distributed",
]
REGISTRY_KINDS = ["targets", "embeddings", "hypernets", "tasks", "methods"]  # families: hyperfunc.run

# Modules whose docstring examples must pass (each has at least one example).
DOCTEST_MODULES = [
    "hyperfunc.distributed._world",
    "hyperfunc.distributed._shard",
    "hyperfunc.distributed._reduce",
    "hyperfunc.inner._sgd",
    "hyperfunc.inner._meta_sgd",
    "hyperfunc.inner._adam",
    "hyperfunc.inner._rmsprop",
    "hyperfunc.inner._adagrad",
    "hyperfunc.inner._adadelta",
    "hyperfunc.inner._adamax",
    "hyperfunc.inner._asgd",
    "hyperfunc.inner._rprop",
    "hyperfunc.inner._adapt",
    "hyperfunc.higher",
    "hyperfunc._spec",
    "hyperfunc._target",
    "hyperfunc._compose",
    "hyperfunc._progress",
    "hyperfunc._registry",
    "hyperfunc.hypernets._mlp",
    "hyperfunc.hypernets._chunked",
    "hyperfunc.hypernets._per_tensor",
    "hyperfunc.hypernets._low_rank",
    "hyperfunc.hypernets._additive",
    "hyperfunc.hypernets._mask",
    "hyperfunc.hypernets._modulation",
    "hyperfunc.embeddings._task_table",
    "hyperfunc.embeddings._support_set",
    "hyperfunc.embeddings._conv_image",
    "hyperfunc.targets._builtin",
    "hyperfunc.datasets._rotations",
    "hyperfunc.datasets._omniglot",
    "hyperfunc.datasets._fetch",
    "hyperfunc.continual._metrics",
    "hyperfunc.continual._hnet",
    "hyperfunc.continual._baselines",
    "hyperfunc.fewshot",
    "hyperfunc.fewshot._batch",
    "hyperfunc.fewshot._episodes",
    "hyperfunc.fewshot._sinusoid",
    "hyperfunc.fewshot._method",
    "hyperfunc.fewshot._protonets",
    "hyperfunc.fewshot._maml",
    "hyperfunc.fewshot._family",
    "hyperfunc.continual._family",
    "hyperfunc.continual._method",
    "hyperfunc.fields._family",
    "hyperfunc.fields._method",
    "hyperfunc.run._config",
    "hyperfunc.run._folder",
    "hyperfunc.run._loop",
    "hyperfunc.run._curves",
    "hyperfunc.run._figure",
    "hyperfunc.run._args",
    "hyperfunc.fields._coords",
    "hyperfunc.fields._metrics",
    "hyperfunc.fields._masks",
    "hyperfunc.fields._render",
    "hyperfunc.fields._fit",
    "hyperfunc.fields._image_hypernet",
    "hyperfunc.fields._meta_init",
    "hyperfunc.fields._functa",
    "hyperfunc.fields._guided",
    "hyperfunc.fields._per_image",
    "hyperfunc.targets._fourier",
]

# ``.. autoclass:: hyperfunc.ParamSpec``, ``.. py:function:: hyperfunc.tasks.get(name)``, ...
_DIRECTIVE = re.compile(
    r"^\s*\.\.\s+(?:auto(?:module|class|exception|function|decorator|data|method|attribute"
    r"|property)|py:(?:module|class|exception|function|decorator|data|method|attribute"
    r"|property))::\s+([\w.]+)",
    re.MULTILINE,
)


def _documented() -> set[str]:
    return set(_DIRECTIVE.findall(API_RST.read_text(encoding="utf-8")))


def _public_names() -> list[str]:
    out = []
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        out += [f"{modname}.{n}" for n in module.__all__ if n != "__version__"]
    return out


def _resolve(qualname: str) -> object:
    """Import ``a.b.c`` as a module, or as an attribute of the longest importable prefix."""
    parts = qualname.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(qualname)


def _own_doc(obj: object) -> str:
    """The object's own docstring (a class does not inherit one from its bases)."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
    else:
        doc = getattr(obj, "__doc__", None)
    return (doc or "").strip()


# ----------------------------------------------------------------- API reference
def test_every_public_module_has_an_all() -> None:
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        assert isinstance(module.__all__, list) and module.__all__, modname
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, f"{modname}.__all__ names that do not exist: {missing}"


@pytest.mark.parametrize("qualname", _public_names())
def test_public_name_is_in_api_reference(qualname: str) -> None:
    assert qualname in _documented(), (
        f"{qualname} is public (in __all__) but docs/api.rst has no directive for it; add "
        f"e.g. '.. autoclass:: {qualname}' or '.. autofunction:: {qualname}'"
    )


def test_api_reference_has_no_stale_entries() -> None:
    stale = []
    for name in sorted(_documented()):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            stale.append(name)
    assert not stale, f"docs/api.rst documents names that do not exist: {stale}"


@pytest.mark.parametrize("kind", REGISTRY_KINDS)
def test_registry_aliases_are_documented(kind: str) -> None:
    documented = _documented()
    for alias in ("registry", "register", "get", "names", "entries"):
        assert f"hyperfunc.{kind}.{alias}" in documented


def test_activations_listed_in_api_reference() -> None:
    # ACTIVATIONS is documented by hand (an imported dict has no docstring to pull in).
    text = API_RST.read_text(encoding="utf-8")
    missing = [name for name in hyperfunc.targets.ACTIVATIONS if f"``{name}``" not in text]
    assert not missing, f"activations missing from the ACTIVATIONS entry in api.rst: {missing}"


def _with_docstrings() -> list[str]:
    """Public classes, functions and modules (data such as registries has no docstring)."""
    return [
        name
        for name in _public_names()
        if (obj := _resolve(name)) is not None
        and (inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, ModuleType))
    ]


@pytest.mark.parametrize("qualname", _with_docstrings())
def test_public_name_has_a_docstring(qualname: str) -> None:
    assert _own_doc(_resolve(qualname)), f"{qualname} has no docstring"


def test_package_and_subpackages_have_docstrings() -> None:
    for modname in PUBLIC_MODULES:
        assert _own_doc(importlib.import_module(modname)), f"{modname} has no docstring"


# -------------------------------------------------------------------- examples
@pytest.mark.parametrize("modname", DOCTEST_MODULES)
def test_docstring_examples_run(modname: str) -> None:
    module = importlib.import_module(modname)
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.attempted > 0, f"{modname} has no docstring examples"
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {modname}"


_GUIDES = sorted(p.name for p in DOCS.glob("*.rst"))


@pytest.mark.parametrize("guide", _GUIDES)
def test_guide_examples_run(guide: str) -> None:
    before = {kind: set(getattr(hyperfunc, kind).names()) for kind in REGISTRY_KINDS}
    try:
        result = doctest.testfile(str(DOCS / guide), module_relative=False, optionflags=FLAGS)
    finally:  # a failing guide must not leave local registrations behind
        for kind in REGISTRY_KINDS:
            registry = getattr(hyperfunc, kind).registry
            for name in set(registry.names()) - before[kind]:
                try:
                    registry.unregister(name)
                except hyperfunc.UnknownNameError:  # a plugin installed meanwhile
                    pass
    assert result.failed == 0, f"{result.failed} example(s) failed in docs/{guide}"
