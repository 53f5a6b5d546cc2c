"""Named registries filled locally and by installed plugins through entry points.

Entry points are looked up with :mod:`importlib.metadata` *at lookup time*, so a
plugin installed after ``import hyperfunc`` is found; only the plugin asked for
is imported.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

import attrs

from hyperfunc._errors import DuplicateNameError, PluginLoadError, UnknownNameError

__all__ = ["Registry", "RegistryEntry"]

T = TypeVar("T")


@attrs.frozen
class RegistryEntry:
    """One name in a registry: where it comes from, and a one-line description."""

    name: str
    source: str  #: distribution name (e.g. ``"hyperfunc"``) or ``"<local>"``
    value: str  #: entry point value ``module:attr``, or the object's qualified name
    description: str


def _first_line(obj: Any) -> str:
    """The docstring's first paragraph, on one line (its summary, even when it wraps)."""
    doc = getattr(obj, "__doc__", None) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _dist_name(ep: md.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return str(dist.metadata["Name"]) if dist is not None else "<unknown distribution>"


class Registry(Generic[T]):
    """A namespace of named objects, filled by :meth:`register` and by entry points.

    Args:
        kind: what the registry holds, for messages (``"targets"``).
        group: the entry-point group plugins declare (``"hyperfunc.targets"``).

    Examples:
        >>> from hyperfunc import Registry
        >>> colours = Registry("colours", "example.colours")
        >>> @colours.register("red")
        ... def red() -> str:
        ...     "The colour red."
        ...     return "#f00"
        >>> colours.get("red")()
        '#f00'
        >>> colours.names()
        ['red']
    """

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._local: dict[str, T] = {}
        self._loaded: dict[tuple[str, str, str], T] = {}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, group={self.group!r})"

    # ------------------------------------------------------------ discovery
    def _entry_points(self) -> list[md.EntryPoint]:
        importlib.invalidate_caches()  # see plugins installed after import
        return list(md.entry_points(group=self.group))

    def _matches(self, name: str) -> tuple[list[md.EntryPoint], bool]:
        eps = [ep for ep in self._entry_points() if ep.name == name]
        return eps, name in self._local

    def _clash_message(self, name: str, eps: list[md.EntryPoint], local: bool) -> str:
        where = sorted(f"distribution {_dist_name(ep)!r} (entry point {ep.value!r})" for ep in eps)
        if local:
            where.insert(0, "a local register() call")
        return (
            f"{self.kind} name {name!r} is provided more than once: {'; '.join(where)}. "
            f"Names must be unique; uninstall one of the plugins or register under another name."
        )

    # -------------------------------------------------------------- public
    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...
    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator.

        Raises:
            DuplicateNameError: if the name is already registered or provided by
                an installed plugin (nothing is changed).
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")

        def add(o: T) -> T:
            eps, local = self._matches(name)
            if eps or local:
                raise DuplicateNameError(self._clash_message(name, eps, local))
            self._local[name] = o
            return o

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Remove a local registration (plugins are removed by uninstalling them)."""
        if name not in self._local:
            raise UnknownNameError(f"{name!r} is not registered locally in {self.kind}")
        del self._local[name]

    def names(self) -> list[str]:
        """All available names, sorted; importing no plugin."""
        return sorted({*self._local, *(ep.name for ep in self._entry_points())})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> T:
        """The object registered as ``name``, importing only the plugin that provides it.

        Raises:
            UnknownNameError: no such name (lists the available ones and the closest match).
            DuplicateNameError: two sources provide the name.
            PluginLoadError: the plugin's import failed or its attribute is missing.
        """
        eps, local = self._matches(name)
        if len(eps) + int(local) > 1:
            raise DuplicateNameError(self._clash_message(name, eps, local))
        if local:
            return self._local[name]
        if not eps:
            available = self.names()
            close = difflib.get_close_matches(name, available, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(
                f"can't find {name!r} in the {self.kind} registry.{hint} Available names: "
                f"{', '.join(available) or '(none)'}. Plugins add names through the "
                f"entry-point group {self.group!r}."
            )
        ep = eps[0]
        key = (_dist_name(ep), ep.name, ep.value)
        if key not in self._loaded:
            try:
                self._loaded[key] = ep.load()
            except Exception as exc:  # a plugin can fail in any way; report which one
                raise PluginLoadError(
                    f"the {self.kind} plugin {name!r} from distribution {key[0]!r} failed to "
                    f"load (entry point {ep.name} = {ep.value!r} in group {self.group!r}): "
                    f"{type(exc).__name__}: {exc}. Reinstall or fix that package, or "
                    "uninstall it; other plugins are unaffected."
                ) from exc
        return self._loaded[key]

    def entries(self) -> list[RegistryEntry]:
        """One :class:`~hyperfunc.RegistryEntry` per name, loading each to read its description.

        A plugin that fails to load is listed with the error as its description.
        """
        out = [
            RegistryEntry(n, "<local>", getattr(o, "__qualname__", repr(o)), _first_line(o))
            for n, o in self._local.items()
        ]
        for ep in self._entry_points():
            try:
                desc = _first_line(self.get(ep.name))
            except (PluginLoadError, DuplicateNameError) as exc:
                desc = f"(unavailable: {str(exc).split(':')[0]})"
            out.append(RegistryEntry(ep.name, _dist_name(ep), ep.value, desc))
        return sorted(out, key=lambda e: (e.name, e.source))
