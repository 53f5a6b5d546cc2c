import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import hyperfunc as hf
from hyperfunc.continual import permuted_stream, split_stream
from hyperfunc.datasets import DATA_ENV, DataNotFoundError, ImageDataset, load_cifar10, load_mnist

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def tiny_dataset(n: int = 60, classes: int = 6) -> ImageDataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 1, 4, 4), dtype=np.uint8)
    y = np.arange(n) % classes
    return ImageDataset("tiny", x, y, x[:30], y[:30], num_classes=classes)


def test_split_stream_partitions_classes_with_local_labels() -> None:
    ds = tiny_dataset()
    stream = split_stream(ds, 2)
    assert len(stream) == 3 and stream.num_outputs == 2 and stream.input_shape == (16,)
    seen: set[int] = set()
    for task in stream:
        assert set(task.y_train.tolist()) == {0, 1}
        assert not seen & set(task.classes)
        seen |= set(task.classes)
        glob = torch.tensor(task.classes)[task.y_train]
        ref = torch.from_numpy(ds.y_train)[
            torch.isin(torch.from_numpy(ds.y_train), torch.tensor(task.classes))
        ]
        assert torch.equal(glob, ref)
    assert seen == set(range(6))


def test_split_stream_bad_groups() -> None:
    ds = tiny_dataset()
    with pytest.raises(ValueError, match="class 1 is in task 0 and task 1"):
        split_stream(ds, groups=[[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="class 9, but the dataset has classes 0..5"):
        split_stream(ds, groups=[[0, 9]])
    with pytest.raises(ValueError, match="can't be split into tasks of 4"):
        split_stream(ds, 4)


def test_task_id_beyond_stream() -> None:
    stream = split_stream(tiny_dataset(), 2)
    with pytest.raises(
        IndexError, match=r"task id 3 is beyond the stream 'split-tiny', which has tasks 0..2"
    ):
        stream[3]


def test_permuted_stream_is_a_fixed_permutation_per_task() -> None:
    ds = tiny_dataset()
    stream = permuted_stream(ds, num_tasks=3, seed=1)
    base = ds.float_images("train").flatten(1)
    perms = stream.permutations  # type: ignore[attr-defined]
    assert len({tuple(p.tolist()) for p in perms}) == 3
    for t in range(3):
        task = stream[t]
        assert torch.equal(task.x_train, base[:, perms[t]])
        assert torch.equal(task.x_train, stream[t].x_train)  # rebuilt identically
        assert task.classes == tuple(range(6))
    again = permuted_stream(ds, num_tasks=3, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(perms, again.permutations))  # type: ignore[attr-defined]


def test_registered_streams_on_shared_data() -> None:
    assert {"split-mnist", "permuted-mnist", "split-cifar10", "split-digits"} <= set(hf.tasks.names())
    s = hf.tasks.get("split-mnist")(root=SHARED)
    t0 = s[0]
    assert t0.classes == (0, 1) and t0.x_train.shape[1] == 784
    assert len(t0.x_train) == int(((s.dataset.y_train == 0) | (s.dataset.y_train == 1)).sum())
    p = hf.tasks.get("permuted-mnist")(root=SHARED)
    assert len(p) == 10 and p.num_outputs == 10
    c = hf.tasks.get("split-cifar10")(root=SHARED)
    assert c.input_shape == (3, 32, 32) and c[4].classes == (8, 9)
    d = hf.tasks.get("split-digits")()
    assert d.input_shape == (64,) and float(d[0].x_train.max()) == 1.0


def test_missing_data_path_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "mnist.npz") in msg and "MNIST/raw" in msg and DATA_ENV in msg
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(DataNotFoundError, match=f"set the environment variable {DATA_ENV}"):
        load_mnist()
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nope"))
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_mnist()


def _write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_idx_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 10, 7)
    for stem, arr in [
        ("train-images-idx3-ubyte", x),
        ("train-labels-idx1-ubyte", y),
        ("t10k-images-idx3-ubyte", x[:3]),
        ("t10k-labels-idx1-ubyte", y[:3]),
    ]:
        _write_idx(raw / f"{stem}.gz", arr)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    ds = load_mnist()
    assert np.array_equal(ds.x_train[:, 0], x) and np.array_equal(ds.y_test, y[:3])


def test_cifar10_python_batches(tmp_path: Path) -> None:
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        (d / name).write_bytes(pickle.dumps(batch))
    ds = load_cifar10(tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)


def test_shared_cifar10_subset_is_channels_first() -> None:
    ds = load_cifar10(SHARED)
    assert ds.x_train.shape == (5000, 3, 32, 32) and ds.x_test.shape == (2000, 3, 32, 32)
