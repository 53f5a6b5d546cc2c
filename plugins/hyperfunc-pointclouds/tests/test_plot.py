"""plot_clouds: a PNG written atomically, None without matplotlib, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from hyperfunc_pointclouds import plot_clouds, shapes

PNG = b"\x89PNG\r\n\x1a\n"


def test_writes_a_png_grid(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    backend = matplotlib.get_backend()
    data = shapes(3, 40)
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")  # replaced, not appended to
    rows = {"input": data.points, "reconstruction": data.points[:2, :25].double()}  # blank cell
    got = plot_clouds(rows, path, titles=data.kinds[:3])
    assert got == path and path.read_bytes().startswith(PNG)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary file left
    assert matplotlib.get_backend() == backend  # pyplot's backend is not switched
    assert plot_clouds({"one": data.points[:1]}, str(tmp_path / "one.png")) == tmp_path / "one.png"


def test_returns_none_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    assert plot_clouds({"input": shapes(2, 10).points}, tmp_path / "x.png") is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ({}, "rows must be a non-empty mapping"),
        ({"a": torch.zeros(4, 3)}, r"rows\['a'\]: expected points of shape \[B, N, 3\]"),
        ({"a": torch.zeros(0, 4, 3)}, r"rows\['a'\]: holds no clouds"),
        ({"a": torch.full((1, 4, 3), float("inf"))}, "infinite"),
    ],
)
def test_bad_rows(tmp_path: Path, rows: dict[str, torch.Tensor], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plot_clouds(rows, tmp_path / "x.png")


def test_bad_arguments(tmp_path: Path) -> None:
    rows = {"a": torch.zeros(2, 4, 3)}
    with pytest.raises(ValueError, match="3 titles for 2 column"):
        plot_clouds(rows, tmp_path / "x.png", titles=["a", "b", "c"])
    with pytest.raises(ValueError, match="point_size must be a positive number"):
        plot_clouds(rows, tmp_path / "x.png", point_size=0)
    with pytest.raises(ValueError, match="dpi must be a positive int"):
        plot_clouds(rows, tmp_path / "x.png", dpi=0)
    with pytest.raises(TypeError, match=r"rows\['a'\] must hold floating-point"):
        plot_clouds({"a": torch.zeros(2, 4, 3, dtype=torch.long)}, tmp_path / "x.png")
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        plot_clouds(rows, tmp_path / "missing" / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    path = tmp_path / "grid.png"
    path.write_bytes(b"old")

    def failing(self: Figure, fname: Path, **kw: object) -> None:
        Path(fname).write_bytes(PNG)  # half a picture, then the disk fills up
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", failing)
    with pytest.raises(OSError, match="disk full"):
        plot_clouds({"input": shapes(2, 10).points}, path)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["grid.png"]
