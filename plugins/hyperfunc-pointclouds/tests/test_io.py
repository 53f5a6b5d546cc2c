"""load_point_clouds: round trips and one clear error per kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hyperfunc_pointclouds import load_point_clouds, shapes


def test_single_cloud_round_trip(tmp_path: Path) -> None:
    cloud = np.random.default_rng(0).normal(size=(40, 3))
    np.save(tmp_path / "one.npy", cloud)
    got = load_point_clouds(tmp_path / "one.npy")
    assert got.shape == (1, 40, 3) and got.dtype == torch.float32
    np.testing.assert_array_equal(got[0].numpy(), cloud.astype(np.float32))
    exact = load_point_clouds(str(tmp_path / "one.npy"), dtype=torch.float64)
    np.testing.assert_array_equal(exact[0].numpy(), cloud)


def test_batch_file_and_shapes_task_round_trip(tmp_path: Path) -> None:
    data = shapes(4, 64, seed=2)
    np.save(tmp_path / "clouds.npy", data.points.numpy())
    assert torch.equal(load_point_clouds(tmp_path / "clouds.npy"), data.points)


def test_directory_is_read_in_sorted_order(tmp_path: Path) -> None:
    np.save(tmp_path / "b.npy", np.full((2, 10, 3), 2.0))
    np.save(tmp_path / "a.npy", np.full((10, 3), 1))  # integers are fine
    np.save(tmp_path / "c.npy", np.full((10, 3), 3.0, dtype=np.float32))
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "d.npy", np.zeros((10, 3)))  # not read: not directly inside
    got = load_point_clouds(tmp_path)
    assert got.shape == (4, 10, 3)
    assert got[:, 0, 0].tolist() == [1.0, 2.0, 2.0, 3.0]


def test_num_points_subsamples_reproducibly(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(50 * 3, dtype=np.float64).reshape(50, 3))
    np.save(tmp_path / "b.npy", np.arange(80 * 3, dtype=np.float64).reshape(80, 3) + 1000)
    got = load_point_clouds(tmp_path, num_points=20, seed=1)
    assert got.shape == (2, 20, 3)
    assert torch.equal(got, load_point_clouds(tmp_path, num_points=20, seed=1))
    assert not torch.equal(got, load_point_clouds(tmp_path, num_points=20, seed=2))
    rows = got[0, :, 0].long() // 3
    assert len(set(rows.tolist())) == 20 and bool((rows < 50).all())  # distinct original rows
    want = torch.stack([rows * 3, rows * 3 + 1, rows * 3 + 2], -1).float()
    torch.testing.assert_close(got[0], want)


# ---------------------------------------------------------------------- errors
def _error(path: Path, kind: type[Exception] = ValueError, **kw: object) -> str:
    with pytest.raises(kind) as info:
        load_point_clouds(path, **kw)  # type: ignore[arg-type]
    return str(info.value)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((10, 2)), r"shape [10, 2], expected [N, 3] or [B, N, 3]"),
        (np.zeros((3, 10)), "swapaxes(-1, -2)"),
        (np.zeros(30), "shape [30]"),
        (np.zeros((1, 2, 10, 3)), "shape [1, 2, 10, 3]"),
        (np.zeros((0, 3)), "empty point cloud (shape [0, 3])"),
        (np.zeros((2, 0, 3)), "empty point cloud (shape [2, 0, 3])"),
        (np.zeros((5, 3), dtype=bool), "dtype bool"),
        (np.zeros((5, 3), dtype=complex), "dtype complex128"),
    ],
)
def test_bad_array_errors_name_the_file(tmp_path: Path, array: np.ndarray, expected: str) -> None:
    file = tmp_path / "bad.npy"
    np.save(file, array)
    msg = _error(file)
    assert str(file) in msg and expected in msg
    assert "numpy.save" in msg or "at least one point" in msg


def test_nan_and_inf_errors_say_where(tmp_path: Path) -> None:
    clouds = np.zeros((3, 10, 3))
    clouds[1, 7, 2] = np.nan
    clouds[2, 0, 0] = np.inf
    np.save(tmp_path / "c.npy", clouds)
    msg = _error(tmp_path / "c.npy")
    assert "c.npy" in msg and "1 NaN and 1 infinite" in msg and "cloud 1, point 7" in msg
    single = np.zeros((10, 3))
    single[4, 1] = -np.inf
    np.save(tmp_path / "s.npy", single)
    assert "(the first at point 4)" in _error(tmp_path / "s.npy")


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    msg = _error(tmp_path / "junk.npy")
    assert "junk.npy could not be read as a .npy array" in msg
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "objects.npy could not be read" in _error(tmp_path / "objects.npy")


def test_bad_paths(tmp_path: Path) -> None:
    msg = _error(tmp_path / "missing.npy", FileNotFoundError)
    assert "missing.npy does not exist" in msg
    assert "it is empty" in _error(tmp_path, FileNotFoundError)
    (tmp_path / "a.txt").write_text("x")
    msg = _error(tmp_path, FileNotFoundError)
    assert "has no .npy files" in msg and "a.txt" in msg


def test_directory_problems_name_the_file(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((10, 3)))
    np.save(tmp_path / "b.npy", np.zeros((12, 3)))
    msg = _error(tmp_path)
    assert "a.npy: 10" in msg and "b.npy: 12" in msg and "num_points=" in msg
    msg = _error(tmp_path, num_points=11)
    assert "a.npy has clouds of 10 points, fewer than num_points=11" in msg
    np.save(tmp_path / "c.npy", np.full((10, 3), np.nan))
    assert "c.npy" in _error(tmp_path, num_points=5)


def test_bad_arguments(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((10, 3)))
    assert "num_points=0" in _error(tmp_path, num_points=0)
    assert "seed must be a non-negative int" in _error(tmp_path, seed=-3)
    assert "floating torch.dtype" in _error(tmp_path, dtype=torch.int64)
