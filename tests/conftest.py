"""Shared pytest configuration: strict warnings (pyproject), deterministic seeds, hypothesis."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("hyperfunc", deadline=None, max_examples=25, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "hyperfunc"))

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
