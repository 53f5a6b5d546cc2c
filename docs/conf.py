"""Sphinx configuration for the hyperfunc documentation.

Build (warnings are errors, and every cross-reference must resolve)::

    python -m sphinx -n -W --keep-going -b html docs docs/_build/html

Run the ``>>>`` examples of the guides::

    python -m sphinx -W -b doctest docs docs/_build/doctest
"""

from __future__ import annotations

import doctest
import importlib
import sys
import typing
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.typing import stringify_annotation

# Document the source tree next to this folder even when hyperfunc is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hyperfunc

# -- project -----------------------------------------------------------------
project = "hyperfunc"
author = "hyperfunc developers"
copyright = "hyperfunc developers"
release = hyperfunc.__version__
version = ".".join(release.split(".")[:2])

# -- general -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "sphinx_copybutton",  # a copy button on every code block (prompts and output left out)
    # sphinx.ext.intersphinx is deliberately off: the docs must build without a network.
]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
copybutton_prompt_text = r">>> |\.\.\. |\$ "  # copy only the input of doctests and console lines
copybutton_prompt_is_regexp = True
nitpicky = True  # every cross-reference must resolve (see _external_link below)

# -- autodoc -----------------------------------------------------------------
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_class_signature = "mixed"
# autodoc_preserve_defaults stays off: with it, Sphinx 9 writes a __signature__ into the
# function behind a bound method (the registry modules' ``register`` aliases), which
# corrupts the signatures of the next aliases of the same method.

# -- napoleon (Google style) -------------------------------------------------
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_include_init_with_doc = False
napoleon_use_rtype = False
# ``Shapes:`` sections (e.g. SupportSetEncoder) render as a titled block.
napoleon_custom_sections = ["Shapes"]

# -- doctest -----------------------------------------------------------------
# The guides' examples are self-contained (they also run under plain ``doctest``,
# see tests/test_docs_api.py), so no global setup is needed.
doctest_default_flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# -- HTML ----------------------------------------------------------------------
html_theme = "furo"
html_title = f"hyperfunc {release}"
html_static_path: list[str] = []

# -- links to Python, PyTorch and NumPy without intersphinx -------------------
# The docs build offline, so intersphinx cannot download inventories. Instead, a reference
# that Sphinx cannot resolve becomes a link into the documentation of these libraries when
# its name starts with a prefix below (a prefix ending in "." covers the names under it;
# {} is the full name) and the name really exists. Anything else still warns.
_PY = "https://docs.python.org/3/library/"
_TORCH = "https://pytorch.org/docs/stable/"
_EXTERNAL = {
    "collections.abc.": _PY + "collections.abc.html#{}",
    "importlib.metadata": _PY + "importlib.metadata.html#module-{}",
    "itertools.": _PY + "itertools.html#{}",
    "os.PathLike": _PY + "os.html#{}",
    "pathlib.Path": _PY + "pathlib.html#{}",
    "torch.Tensor": _TORCH + "tensors.html#{}",
    "torch.device": _TORCH + "tensor_attributes.html#{}",
    "torch.dtype": _TORCH + "tensor_attributes.html#{}",
    "torch.Size": _TORCH + "size.html#{}",
    "torch.Generator": _TORCH + "generated/{}.html",
    "torch.nn.Module": _TORCH + "generated/{}.html",
    "torch.nn.Sequential": _TORCH + "generated/{}.html",
    "torch.nn.Parameter": _TORCH + "generated/torch.nn.parameter.Parameter.html",
    "torch.nn.functional.": _TORCH + "generated/{}.html",
    "torch.optim.Optimizer": _TORCH + "optim.html#{}",
    "numpy.": "https://numpy.org/doc/stable/reference/generated/{}.html",
}
# Where a class is defined (what autodoc writes) -> the name it is documented and used under.
_PUBLIC_NAME = {
    "torch._C.Generator": "torch.Generator",
    "torch.nn.modules.module.Module": "torch.nn.Module",
    "torch.nn.modules.container.Sequential": "torch.nn.Sequential",
    "torch.nn.parameter.Parameter": "torch.nn.Parameter",
    "torch.optim.optimizer.Optimizer": "torch.optim.Optimizer",
}


def _lookup(name: str) -> Any:
    """The object a dotted name refers to (importing its module), or ``None``."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part, None)
        return obj
    return None


def _retext(node: nodes.Node, text: str) -> nodes.Node:
    """A copy of ``node`` that reads ``text``."""
    if isinstance(node, nodes.Text):
        return nodes.Text(text)
    copy = node.deepcopy()
    copy.children = [nodes.Text(text)]
    return copy


def _external_link(app: Sphinx, env: Any, node: Any, contnode: nodes.Element) -> nodes.Node | None:
    """``missing-reference``: link a known external name; show a type variable as plain text."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    if target.startswith("hyperfunc.") and isinstance(_lookup(target), typing.TypeVar):
        return contnode  # ``T`` in ``Registry[T]``: a type variable has no page of its own
    name = _PUBLIC_NAME.get(target, target)
    known = [p for p in _EXTERNAL if name == p or (p.endswith(".") and name.startswith(p))]
    prefix = max(known, key=len, default=None)
    if prefix is None or _lookup(name) is None:
        return None
    if contnode.astext() == target != name:  # written out in full: show the public name
        contnode = _retext(contnode, name)
    link = nodes.reference("", "", internal=False, refuri=_EXTERNAL[prefix].format(name), reftitle=name)
    link += contnode
    return link


# -- class signatures ----------------------------------------------------------
def _class_signature(app: Sphinx, what: str, name: str, obj: Any, *_: Any) -> tuple[str, str] | None:
    """``autodoc-process-signature``: the parameter types of a class are its ``__init__``'s.

    With ``autodoc_typehints = "description"``, Sphinx resolves a class's string annotations
    (``from __future__ import annotations``) with ``get_type_hints(cls)``, which reads class
    attributes, not ``__init__``'s parameters; for an ``nn.Module`` they stay unresolved text.
    A protocol (``run.Method``, ``fewshot.Sampler``) is not instantiated: no signature.
    """
    if what == "class" and typing.Protocol in getattr(obj, "__bases__", ()):
        return "", ""
    init = getattr(obj, "__init__", None) if what in ("class", "exception") else None
    if not getattr(init, "__module__", "").startswith("hyperfunc"):
        return None
    recorded = app.env.current_document.autodoc_annotations.get(name)
    if not recorded:
        return None
    try:
        hints = typing.get_type_hints(init)
    except (NameError, TypeError):  # a name only imported for type checking: the text stays (and warns)
        return None
    for param, hint in hints.items():
        if param in recorded and param != "return":
            recorded[param] = stringify_annotation(hint, "smart")


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _external_link)
    app.connect("autodoc-process-signature", _class_signature)
