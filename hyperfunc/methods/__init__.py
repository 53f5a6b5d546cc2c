"""The ``methods`` registry (entry-point group ``hyperfunc.methods``).

The method issues fill it; third-party packages add their own methods through the
entry-point group.
"""

from __future__ import annotations

from typing import Any

from hyperfunc._registry import Registry

__all__ = ["registry", "register", "get", "names", "entries"]

#: The registry of methods.
registry: Registry[Any] = Registry("methods", "hyperfunc.methods")
register = registry.register
get = registry.get
names = registry.names
entries = registry.entries
