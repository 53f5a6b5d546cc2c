"""RunFolder: marker, lock, permissions, checks that change nothing; moving methods with their targets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from torch import nn

import hyperfunc as hf
from hyperfunc.run import RunDirectoryError, RunFolder, atomic_write, move_method, strict_json


def test_files_get_the_usual_permissions(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "r")
    folder.start(resume=False, overwrite=False)
    path = folder.write_json("results.json", {"a": 1})
    old = os.umask(0o022)
    os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~old  # not the 0o600 of a temporary file
    folder.close()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_check_changes_nothing_and_names_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = RunFolder(tmp_path / "new")
    folder.check(resume=False, overwrite=True)  # a new folder may be "overwritten": nothing there yet
    assert not (tmp_path / "new").exists()
    with pytest.raises(RunDirectoryError, match="nothing to resume"):
        folder.check(resume=True, overwrite=False)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(RunDirectoryError, match="is not writable; choose another --out"):
        folder.check(resume=False, overwrite=False)


def test_strict_json_writes_null_for_non_finite_numbers() -> None:
    text = strict_json({"a": float("nan"), "b": [float("inf"), 1.5], "c": torch.tensor(2.0)})
    assert "NaN" not in text and "Infinity" not in text
    assert '"a": null' in text and '"c": 2.0' in text


class Holder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Module()
        self.inner.target = hf.stateless(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)))  # buffers
        self.w = nn.Parameter(torch.zeros(2))


def test_move_method_moves_targets_held_anywhere_in_the_module_tree() -> None:
    m = Holder()
    before = m.inner.target
    move_method(m, torch.device("meta"))
    assert m.w.device.type == "meta"
    assert m.inner.target is not before  # a moved copy (targets hold their buffers outside nn)
    x = torch.zeros(4, 2, device="meta")
    params = {k: torch.zeros(v.shape, device="meta") for k, v in before.init_params().items()}
    assert m.inner.target(params, x).device.type == "meta"  # its running statistics are on meta too
