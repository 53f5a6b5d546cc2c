"""Run folders that never lose work: a marker, a lock, atomic writes, safe checkpoints."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import torch

from hyperfunc.run._errors import CheckpointError, CheckpointMismatchError, RunDirectoryError

try:  # POSIX advisory locks: released by the kernel when the process dies, even on kill -9
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "RunFolder",
    "MARKER",
    "CHECKPOINT",
    "RESULTS",
    "MODEL",
    "METRICS",
    "ENVIRONMENT",
    "strict_json",
    "plain",
    "load_checkpoint",
    "atomic_write",
    "check_identity",
]

MARKER = ".hyperfunc-run"
LOCK = ".lock"
CHECKPOINT = "checkpoint.pt"
RESULTS = "results.json"
MODEL = "model.pt"
METRICS = "metrics.jsonl"
ENVIRONMENT = "environment.json"
_TMP = ".tmp"


def plain(o: Any) -> Any:
    """``o`` as the data strict JSON holds: dicts with str keys, lists, str, numbers, bools, ``None``.

    Non-finite floats become ``None``, tuples lists, one-element tensors their value,
    anything else its ``str``. (What :func:`strict_json` writes, without writing it.)
    """
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, Mapping):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    if isinstance(o, (str, int, bool)) or o is None:
        return o
    if isinstance(o, torch.Tensor) and o.numel() == 1:
        return plain(o.item())
    return str(o)


def strict_json(obj: Any, indent: int | None = 2) -> str:
    """JSON with non-finite floats written as ``null`` (strict JSON: no NaN, no Infinity)."""
    return json.dumps(plain(obj), indent=indent, allow_nan=False)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    ``path`` is either the old file or the whole new one, never half-written; the
    temporary file is removed if ``write`` fails, and one left by a killed process is
    removed by the next :meth:`RunFolder.start`. The file gets the usual permissions
    (``0o666`` less the umask), not the owner-only ones of a temporary file.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP + path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: torch.device | str | None = None) -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)``: plain data only, nothing in it runs.

    Raises:
        CheckpointError: the file is missing, truncated, corrupted, or holds anything
            but tensors and plain containers (a tampered file); the message names it.
    """
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says more
            warnings.simplefilter("ignore")
            out = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from None
    except pickle.UnpicklingError as e:
        refused = [line.strip() for line in str(e).splitlines() if "GLOBAL" in line]
        if refused:
            raise CheckpointError(
                f"refusing to load {str(path)!r}: it holds more than tensors and plain data ({refused[0]}); "
                "nothing in it was run. Use a checkpoint hyperfunc wrote, or start the run again with "
                "--overwrite"
            ) from None
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupted or truncated (not a torch.save file of plain data); "
            "start the run again with --overwrite"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupted or truncated ({type(e).__name__}: {str(e)[:120]}); "
            "start the run again with --overwrite"
        ) from None
    if not isinstance(out, dict):
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds a {type(out).__name__}, not a hyperfunc checkpoint"
        )
    return out


def check_identity(saved: Mapping[str, Any], now: Mapping[str, Any], path: Path) -> None:
    """Raise :class:`CheckpointMismatchError` naming every key where the two identities differ."""
    if saved == now:
        return
    diff = sorted(k for k in {*saved, *now} if saved.get(k) != now.get(k))
    parts = [f"{k}: checkpoint {saved.get(k)!r}, now {now.get(k)!r}" for k in diff]
    raise CheckpointMismatchError(
        f"the checkpoint in {str(path)!r} is from another run ({'; '.join(parts)}); resume with the "
        "same method, target, tasks and settings, or choose a new --out"
    )


class RunFolder:
    """A folder written by one run at a time: ``checkpoint.pt``, ``results.json``, ``model.pt``, ...

    :meth:`check` only reads (call it before anything is built or deleted);
    :meth:`start` then takes the folder: creates it (new run), empties it
    (``overwrite``: only a folder with hyperfunc's marker file) or keeps it
    (``resume``), holds a lock until :meth:`close` so a second run into it is
    refused, and removes temporary files a killed write left behind.

    Examples:
        >>> import tempfile, pathlib
        >>> from hyperfunc.run import RunFolder
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> folder = RunFolder(path)
        >>> folder.check(resume=False, overwrite=False)
        >>> folder.start(resume=False, overwrite=False)
        >>> folder.write_json("results.json", {"accuracy": 0.9}).name
        'results.json'
        >>> sorted(p.name for p in path.iterdir())
        ['.hyperfunc-run', '.lock', 'results.json']
        >>> folder.close()
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def ours(self) -> bool:
        """Whether the folder carries the marker file hyperfunc writes into every run folder."""
        return (self.path / MARKER).is_file()

    def _entries(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir()) if self.path.is_dir() else []

    def check(self, *, resume: bool, overwrite: bool, _locked: bool = False) -> None:
        """Raise :class:`RunDirectoryError` if the folder can't be used as asked; changes nothing."""
        p = self.path
        if resume and overwrite:
            raise RunDirectoryError("choose either --resume or --overwrite, not both")
        if p.exists() and not p.is_dir():
            raise RunDirectoryError(f"--out {str(p)!r} is a file, not a folder; choose another --out")
        existing = p if p.exists() else next((a for a in p.parents if a.exists()), Path("."))
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunDirectoryError(
                f"--out {str(p)!r}: {str(existing)!r} is not writable; choose another --out"
            )
        entries = [e for e in self._entries() if e != LOCK]
        if resume:
            if not self.ours:
                raise RunDirectoryError(f"nothing to resume: {str(p)!r} holds no hyperfunc run")
            if not (p / CHECKPOINT).is_file():
                raise RunDirectoryError(
                    f"nothing to resume: {str(p / CHECKPOINT)!r} does not exist (the run stopped before its "
                    "first checkpoint); start it again with --overwrite"
                )
        elif entries:
            if not self.ours:
                shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
                raise RunDirectoryError(
                    f"--out {str(p)!r} is not empty and was not written by hyperfunc (it holds {shown}); "
                    "choose another --out (--overwrite only replaces hyperfunc's own run folders)"
                )
            if not overwrite:
                raise RunDirectoryError(
                    f"--out {str(p)!r} already holds a run; pass --resume to continue it, --overwrite to "
                    "replace it, or choose another --out"
                )
        if not _locked:
            self._check_unlocked()

    def _check_unlocked(self) -> None:
        if fcntl is None or not (self.path / LOCK).exists():
            return
        with open(self.path / LOCK, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunDirectoryError(
                    f"another run is writing into {str(self.path)!r} right now; wait for it to end or choose "
                    "another --out"
                ) from None
            fcntl.flock(f, fcntl.LOCK_UN)

    def start(self, *, resume: bool, overwrite: bool) -> None:
        """Take the folder for this run (see the class); :meth:`check` is repeated under the lock."""
        self.check(resume=resume, overwrite=overwrite)
        made = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        lock = open(self.path / LOCK, "ab")
        if fcntl is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()  # the other run made the folder and its lock file: leave them
                raise RunDirectoryError(
                    f"another run is writing into {str(self.path)!r} right now; wait for it to end or choose "
                    "another --out"
                ) from None
        self._lock = lock
        try:
            self.check(resume=resume, overwrite=overwrite, _locked=True)  # again, under the lock
        except RunDirectoryError:
            self.close()
            if made:
                shutil.rmtree(self.path, ignore_errors=True)
            raise
        for entry in self.path.iterdir():
            stale = entry.name.startswith(".") and _TMP in entry.name  # a write killed half-way
            if stale or (overwrite and entry.name != LOCK):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        if not self.ours:
            self.write_json(MARKER, {"format": 1, "what": "a hyperfunc run folder (hyperfunc.run)"})

    def close(self) -> None:
        """Release the lock (the kernel releases it too if the process dies)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def file(self, name: str) -> Path:
        """The path of ``name`` in the folder."""
        return self.path / name

    def write(self, name: str, write: Callable[[Path], None]) -> Path:
        """Write ``name`` atomically through ``write(tmp_path)``; returns its path."""
        atomic_write(self.path / name, write)
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as strict JSON, atomically."""
        text = strict_json(obj)

        def write(tmp: Path) -> None:
            tmp.write_text(text + "\n")

        return self.write(name, write)

    def save(self, name: str, obj: Any) -> Path:
        """``torch.save`` ``obj`` atomically (it must load back with ``weights_only=True``)."""
        return self.write(name, lambda tmp: torch.save(obj, tmp))

    def load_checkpoint(self, map_location: torch.device | str | None = None) -> dict[str, Any]:
        """The folder's checkpoint, loaded safely (see :func:`load_checkpoint`)."""
        return load_checkpoint(self.path / CHECKPOINT, map_location)
