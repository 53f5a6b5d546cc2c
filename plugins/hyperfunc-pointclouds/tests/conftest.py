"""Shared test settings: one torch thread, a fixed seed, strict and reproducible hypothesis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from hypothesis import settings

# derandomized and without an example database: reproducible, and no .hypothesis/ folder
settings.register_profile(
    "hyperfunc-pointclouds", deadline=None, max_examples=20, derandomize=True, database=None
)
settings.load_profile("hyperfunc-pointclouds")


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    # The tensors here are tiny: intra-op threads only add overhead, and on a busy
    # machine OpenMP spinning makes every op much slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
