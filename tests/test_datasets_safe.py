"""CIFAR-10's python batches are read without running code from the file."""

from __future__ import annotations

import builtins
import importlib
import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hyperfunc.datasets import UnsafePickleError, load_cifar10
from hyperfunc.datasets._safe_pickle import safe_unpickle

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_batch(n: int = 4, seed: int = 0) -> dict[bytes, Any]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def numpy1_pickle(obj: object) -> bytes:
    """A pickle naming ``numpy.core.multiarray._reconstruct``, as files written with numpy 1.x do."""
    data = pickle.dumps(obj, protocol=3)  # protocol 3 spells globals as text lines, no framing
    return data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


class Exploit:
    """Unpickling this calls ``fn(*args)``: what a tampered batch would do."""

    def __init__(self, fn: Callable[..., object], *args: object) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        return self.fn, self.args


class Innocent:
    """A plain class instance: harmless here, but not something a CIFAR-10 batch holds."""


# ------------------------------------------------------------------ good files
@pytest.mark.parametrize("writer", ["protocol-3", "protocol-4", "numpy-1.x names"])
def test_cifar_style_batch_loads_like_plain_pickle(tmp_path: Path, writer: str) -> None:
    batch = cifar_batch()
    path = tmp_path / "data_batch_1"
    if writer == "numpy-1.x names":
        path.write_bytes(numpy1_pickle(batch))
        assert b"numpy.core.multiarray" in path.read_bytes()
    else:
        path.write_bytes(pickle.dumps(batch, protocol=int(writer[-1])))
    with open(path, "rb") as f:
        expected = pickle.load(f, encoding="bytes")
    got = safe_unpickle(path)
    assert got.keys() == expected.keys() == batch.keys()
    assert got[b"labels"] == expected[b"labels"] == batch[b"labels"]
    assert got[b"filenames"] == batch[b"filenames"] and got[b"batch_label"] == batch[b"batch_label"]
    assert got[b"data"].dtype == np.uint8 and np.array_equal(got[b"data"], batch[b"data"])


def test_load_cifar10_reads_python_batches(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {name: cifar_batch(seed=i) for i, name in enumerate(BATCHES)}
    for name, batch in batches.items():
        (folder / name).write_bytes(numpy1_pickle(batch))
    ds = load_cifar10(tmp_path)
    train = [batches[n] for n in BATCHES[:5]]
    assert np.array_equal(ds.x_train, np.concatenate([b[b"data"] for b in train]).reshape(-1, 3, 32, 32))
    assert ds.y_train.tolist() == [label for b in train for label in b[b"labels"]]
    assert np.array_equal(ds.x_test, batches["test_batch"][b"data"].reshape(-1, 3, 32, 32))
    assert ds.y_test.dtype == np.int64 and ds.y_test.tolist() == batches["test_batch"][b"labels"]


@pytest.mark.skipif(not (SHARED / "cifar-10-batches-py").is_dir(), reason="no real CIFAR-10 batches")
def test_real_batches_load_as_with_plain_pickle() -> None:
    for name in BATCHES:
        path = SHARED / "cifar-10-batches-py" / name
        with open(path, "rb") as f:
            expected = pickle.load(f, encoding="bytes")
        got = safe_unpickle(path)
        assert got.keys() == expected.keys()
        assert np.array_equal(got[b"data"], expected[b"data"]) and got[b"labels"] == expected[b"labels"]


# ------------------------------------------------------------------- bad files
def test_os_system_is_refused_and_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "MARKER"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Exploit(os.system, f"touch {marker}"), b"labels": []}))
    with pytest.raises(UnsafePickleError) as info:
        safe_unpickle(path)
    msg = str(info.value)
    assert repr(str(path)) in msg and "system" in msg and "not a CIFAR-10 batch" in msg
    assert isinstance(info.value, ValueError)
    assert not marker.exists() and not (tmp_path / "touch").exists()


def test_load_cifar10_refuses_a_tampered_batch(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "MARKER"
    for name in BATCHES:
        (folder / name).write_bytes(pickle.dumps(cifar_batch()))
    (folder / "data_batch_3").write_bytes(pickle.dumps(Exploit(os.system, f"touch {marker}")))
    with pytest.raises(UnsafePickleError, match="data_batch_3"):
        load_cifar10(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        Exploit(builtins.eval, "1 + 1"),
        Exploit(subprocess.call, ["true"]),
        Exploit(importlib.import_module, "os"),
        Exploit(np.load, "x.npy"),  # numpy, but not array reconstruction
        Innocent(),
    ],
    ids=["eval", "subprocess", "import_module", "numpy.load", "class instance"],
)
def test_every_other_global_is_refused(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps([1, b"x", payload]))
    with pytest.raises(UnsafePickleError, match="is not a CIFAR-10 batch"):
        safe_unpickle(path)


@pytest.mark.parametrize("cut", [0, 1, 20, -1])
def test_truncated_file_is_a_value_error_naming_it(tmp_path: Path, cut: int) -> None:
    data = pickle.dumps(cifar_batch())
    path = tmp_path / "data_batch_1"
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError) as info:
        safe_unpickle(path)
    assert not isinstance(info.value, UnsafePickleError)
    assert repr(str(path)) in str(info.value) and "truncated or corrupted" in str(info.value)


def test_garbage_is_a_value_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(b"\x00not a pickle at all")
    with pytest.raises(ValueError, match="test_batch"):
        safe_unpickle(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([1, 2, 3], "expected a dict with keys b'data' and b'labels', got list"),
        ({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, "got b'data' uint8 array [2, 10]"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "b'labels' list of length 1"),
    ],
)
def test_a_pickle_that_is_not_a_batch_is_named(tmp_path: Path, content: object, expected: str) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in BATCHES:
        (folder / name).write_bytes(pickle.dumps(content if name == "data_batch_1" else cifar_batch()))
    with pytest.raises(ValueError) as info:
        load_cifar10(tmp_path)
    assert "data_batch_1" in str(info.value) and expected in str(info.value)


def test_damaged_npz_files_are_named(tmp_path: Path) -> None:
    import numpy as np

    from hyperfunc.datasets import load_mnist

    (tmp_path / "mnist.npz").write_text("garbage")
    with pytest.raises(ValueError, match=r"mnist.npz' is not a plain .npz file"):
        load_mnist(tmp_path)
    arrays = {k: np.zeros((2, 28, 28), np.uint8) for k in ("x_train", "x_test")}
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(ValueError, match=r"mnist.npz' has no 'y_train', 'y_test'"):
        load_mnist(tmp_path)
    np.savez(tmp_path / "mnist.npz", **arrays, y_train=np.zeros(2, np.uint8), y_test=np.zeros(2, np.uint8))
    data = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "mnist.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"mnist.npz'"):
        load_mnist(tmp_path)
