"""Sphinx configuration for the hyperfunc documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Run the ``>>>`` examples of the guides::

    python -m sphinx -W -b doctest docs docs/_build/doctest
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

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
nitpicky = False

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
