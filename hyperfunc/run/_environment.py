"""The environment record of a run: versions, machine, device, threads."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import torch

from hyperfunc.run._config import RunConfig

__all__ = ["environment"]


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def environment(config: RunConfig) -> dict[str, Any]:
    """What ran the run: versions, machine, device name, threads, the command line, the time."""
    device = torch.device(config.device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (platform.processor() or platform.machine())
    )
    return {
        "hyperfunc": _version("torch-hyperfunc"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": name,
        "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "argv": list(sys.argv),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
