"""Exceptions raised by hyperfunc.

Every error names the offending thing, says what was expected and how to fix it.
They subclass the built-in exception a caller would naturally catch (``ValueError``,
``LookupError``, ``ImportError``, ``TypeError``).
"""

from __future__ import annotations

__all__ = [
    "SpecMismatchError",
    "NonFiniteWeightsError",
    "RegistryError",
    "UnknownNameError",
    "DuplicateNameError",
    "PluginLoadError",
]


class SpecMismatchError(ValueError):
    """A parameter dict (or its batch shape) does not match a :class:`~hyperfunc.ParamSpec`.

    The message lists *every* problem found: missing, unexpected, mis-shaped and
    mis-typed entries, and inconsistent batch dimensions.
    """


class NonFiniteWeightsError(ValueError):
    """Generated weights contain NaN or infinity (raised only when ``check_finite=True``)."""


class RegistryError(LookupError):
    """Base class of the registry errors."""


class UnknownNameError(RegistryError, KeyError):
    """A name is neither registered locally nor provided by an installed plugin."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(RegistryError):
    """Two registrations (local or plugin) claim the same name in one registry."""


class PluginLoadError(RegistryError, ImportError):
    """An installed plugin's entry point could not be loaded."""
