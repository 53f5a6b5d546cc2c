"""The attrs validator shared by the run configurations' ``device`` fields."""

from __future__ import annotations

import torch

__all__ = ["check_device"]


def check_device(_inst: object, _attr: object, value: str) -> None:
    """Raise a ``ValueError`` naming ``value`` unless it parses as a ``torch.device``."""
    try:
        torch.device(value)
    except (RuntimeError, TypeError) as e:
        raise ValueError(
            f"device {value!r} is not a torch device ({e}); use e.g. 'cpu', 'cuda' or 'cuda:1'"
        ) from None
