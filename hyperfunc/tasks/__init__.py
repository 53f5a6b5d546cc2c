"""The ``tasks`` registry (entry-point group ``hyperfunc.tasks``).

The method issues fill it; third-party packages add their own tasks through the
entry-point group.
"""

from __future__ import annotations

from typing import Any

from hyperfunc._registry import Registry

__all__ = ["registry", "register", "get", "names", "entries"]

#: The registry of tasks.
registry: Registry[Any] = Registry("tasks", "hyperfunc.tasks")
register = registry.register
get = registry.get
names = registry.names
entries = registry.entries
