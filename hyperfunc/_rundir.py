"""Run directories shared by the runners: safe creation, atomic writes, identity checks on resume."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CHECKPOINT",
    "RESULTS",
    "RunDirectoryError",
    "CheckpointMismatchError",
    "prepare_out",
    "atomic_save",
    "check_identity",
]

CHECKPOINT = "checkpoint.pt"
RESULTS = "results.json"


class RunDirectoryError(FileExistsError):
    """``out`` already holds a run and neither resume nor overwrite was asked for."""


class CheckpointMismatchError(ValueError):
    """A checkpoint was written by another method, target, task stream or configuration."""


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Create ``out`` for a new run, or check it for ``resume`` / clear it for ``overwrite``."""
    if resume and overwrite:
        raise ValueError("choose either resume or overwrite, not both")
    if out.exists() and any(out.iterdir()):
        ours = (out / CHECKPOINT).exists() or (out / RESULTS).exists()
        if resume:
            if not (out / CHECKPOINT).exists():
                raise FileNotFoundError(f"nothing to resume: {out / CHECKPOINT} does not exist")
            return
        if not overwrite:
            raise RunDirectoryError(
                f"{str(out)!r} already holds a run; pass --resume to continue it, --overwrite to "
                "replace it, or choose another --out"
            )
        if not ours:
            raise RunDirectoryError(
                f"refusing to overwrite {str(out)!r}: it is not empty and does not look like a "
                "hyperfunc run (no checkpoint.pt or results.json)"
            )
        shutil.rmtree(out)
    elif resume:
        raise FileNotFoundError(f"nothing to resume: {out / CHECKPOINT} does not exist")
    out.mkdir(parents=True, exist_ok=True)


def atomic_save(obj: Any, path: Path) -> None:
    """Write ``obj`` (JSON for ``*.json``, else ``torch.save``) so ``path`` is never half-written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix == ".json":
            Path(tmp).write_text(json.dumps(obj, indent=2))
        else:
            torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_identity(ckpt: Mapping[str, Any], ident: Mapping[str, Any], path: Path) -> None:
    """Raise :class:`CheckpointMismatchError` naming the keys where the checkpoint's identity differs."""
    if ckpt.get("identity") != ident:
        theirs = ckpt.get("identity", {})
        diff = sorted(k for k in {*ident, *theirs} if ident.get(k) != theirs.get(k))
        raise CheckpointMismatchError(
            f"the checkpoint in {str(path)!r} is from another run (differs in {diff}: "
            f"checkpoint {[theirs.get(k) for k in diff]} vs now {[ident.get(k) for k in diff]}); "
            "resume with the same method, target, tasks and settings, or use a new --out"
        )
