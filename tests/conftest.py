"""Shared pytest configuration: strict warnings (pyproject), deterministic seeds, hypothesis."""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import settings

settings.register_profile("hyperfunc", deadline=None, max_examples=25, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "hyperfunc"))

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def hide_matplotlib(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """A function that makes every later import of matplotlib fail, as without the plot extra."""
    real_import = builtins.__import__

    def blocked(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    return lambda: monkeypatch.setattr(builtins, "__import__", blocked)
