"""Omniglot: rotations as classes, the loader on the real file and on fakes, the registered task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import hyperfunc as hf
from hyperfunc.datasets import DATA_ENV, OMNIGLOT_FILE, DataNotFoundError, load_omniglot, with_rotations
from hyperfunc.fewshot import Episodes

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
REAL = SHARED / OMNIGLOT_FILE
needs_real = pytest.mark.skipif(not REAL.is_file(), reason=f"Omniglot not found at {REAL}")


def fake_omniglot(directory: Path, background: int = 6, evaluation: int = 4) -> np.ndarray:
    """A small file with the layout of the real one; returns its background images."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 256, size=(background, 20, 28, 28), dtype=np.uint8)
    ev = rng.integers(0, 256, size=(evaluation, 20, 28, 28), dtype=np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / OMNIGLOT_FILE, background_images=bg, evaluation_images=ev)
    return bg


# ------------------------------------------------------------------ rotations
def test_a_rotated_class_is_np_rot90_of_the_original() -> None:
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (3, 2, 1, 5, 5), dtype=np.uint8))
    rotated = with_rotations(images)
    assert rotated.shape == (12, 2, 1, 5, 5) and rotated.dtype == torch.uint8
    for r in range(4):
        for c in range(3):
            expected = np.rot90(images[c].numpy(), r, axes=(-2, -1))
            assert np.array_equal(rotated[r * 3 + c].numpy(), expected)
    assert torch.equal(with_rotations(images, (2,)), torch.rot90(images, 2, dims=(-2, -1)))


def test_rotations_bad_input() -> None:
    with pytest.raises(ValueError, match=r"at least 4 axes\), got shape \(3, 5, 5\)"):
        with_rotations(torch.zeros(3, 5, 5))
    with pytest.raises(ValueError, match=r"odd quarter turns of non-square images \(5×4\)"):
        with_rotations(torch.zeros(3, 2, 5, 4))
    assert with_rotations(torch.zeros(3, 2, 5, 4), (0, 2)).shape == (6, 2, 5, 4)
    with pytest.raises(ValueError, match="quarter_turns must be a non-empty tuple of ints"):
        with_rotations(torch.zeros(3, 2, 5, 5), ())


# ------------------------------------------------------------- the real file
@pytest.fixture(scope="module")
def raw() -> dict[str, np.ndarray]:
    if not REAL.is_file():
        pytest.skip(f"Omniglot not found at {REAL}")
    with np.load(REAL, allow_pickle=False) as d:
        return {s: d[f"{s}_images"] for s in ("background", "evaluation")}


@needs_real
def test_real_omniglot_splits(raw: dict[str, np.ndarray]) -> None:
    for split, classes in (("background", 964), ("evaluation", 659)):
        images = load_omniglot(SHARED, split)
        assert images.shape == (classes, 20, 1, 28, 28) and images.dtype == torch.float32
        assert float(images.min()) == 0.0 and float(images.max()) == 1.0
        assert torch.equal(images[:, :, 0], torch.from_numpy(raw[split]).float() / 255)


@needs_real
def test_real_omniglot_rotations(raw: dict[str, np.ndarray]) -> None:
    images = load_omniglot(SHARED, "evaluation", rotations=True)
    assert images.shape == (4 * 659, 20, 1, 28, 28)
    for r, c in ((0, 5), (1, 0), (2, 300), (3, 658)):
        expected = np.rot90(raw["evaluation"][c], r, axes=(-2, -1)).astype(np.float32) / 255
        assert np.array_equal(images[r * 659 + c, :, 0].numpy(), expected)


@needs_real
def test_registered_omniglot_on_the_real_file() -> None:
    episodes = hf.tasks.get("omniglot")(
        split="background", n_way=20, k_shot=1, q_query=5, batch_size=4, seed=3, root=SHARED
    )
    assert isinstance(episodes, Episodes) and episodes.num_classes == 3856
    batch = episodes.batch(0)
    assert batch.x_support.shape == (4, 20, 1, 28, 28) and batch.x_query.shape == (4, 100, 1, 28, 28)
    assert torch.equal(batch.x_query, episodes.replace().batch(0).x_query)


# ------------------------------------------------------------------- fakes
def test_loader_reads_root_subfolder_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bg = fake_omniglot(tmp_path / "omniglot")
    images = load_omniglot(tmp_path)
    assert torch.equal(images[:, :, 0], torch.from_numpy(bg).float() / 255)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert load_omniglot(split="evaluation").shape == (4, 20, 1, 28, 28)
    assert load_omniglot(rotations=True).shape == (24, 20, 1, 28, 28)


def test_missing_file_lists_every_place_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_omniglot(tmp_path)
    msg = str(info.value)
    assert str(tmp_path / OMNIGLOT_FILE) in msg and str(tmp_path / "omniglot" / OMNIGLOT_FILE) in msg
    assert DATA_ENV in msg
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(DataNotFoundError, match=f"no data directory for omniglot.*{DATA_ENV}"):
        load_omniglot()
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_omniglot(tmp_path / "nowhere")


def test_unknown_split_and_wrong_file(tmp_path: Path) -> None:
    fake_omniglot(tmp_path)
    with pytest.raises(ValueError, match="split 'train'; choose 'background' or 'evaluation'"):
        load_omniglot(tmp_path, "train")
    np.savez(tmp_path / OMNIGLOT_FILE, x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="has no 'background_images' \\(it has x_train\\)"):
        load_omniglot(tmp_path)
    np.savez(tmp_path / OMNIGLOT_FILE, background_images=np.zeros((2, 20, 28, 28), np.float32))
    with pytest.raises(ValueError, match="is float32 \\(2, 20, 28, 28\\), expected uint8"):
        load_omniglot(tmp_path)


def test_registered_omniglot_arguments(tmp_path: Path) -> None:
    fake_omniglot(tmp_path)
    make = hf.tasks.get("omniglot")
    plain = make("evaluation", n_way=3, k_shot=2, q_query=3, batch_size=5, rotations=False, root=tmp_path)
    assert plain.num_classes == 4 and plain.name == "omniglot-evaluation"
    assert plain.batch(0).x_support.shape == (5, 6, 1, 28, 28)
    rotated = make(n_way=24, k_shot=1, q_query=1, root=tmp_path)
    assert rotated.num_classes == 24 and rotated.name == "omniglot-background-rot"
    with pytest.raises(ValueError, match="n_way=25 but dataset 'omniglot-background-rot' has only 24 "):
        make(n_way=25, root=tmp_path)
    with pytest.raises(ValueError, match=r"k_shot \+ q_query = 10 \+ 15 = 25 .* q_query <= 20"):
        make(k_shot=10, root=tmp_path)


def test_fewshot_reexports_the_omniglot_loader() -> None:
    # The loader lives in hyperfunc.datasets; the old names in hyperfunc.fewshot still work.
    assert hf.fewshot.load_omniglot is hf.datasets.load_omniglot is load_omniglot
    assert hf.fewshot.with_rotations is hf.datasets.with_rotations is with_rotations
    assert hf.fewshot.OMNIGLOT_FILE == hf.datasets.OMNIGLOT_FILE == "omniglot_28.npz"


def test_omniglot_images_reads_the_same_file(tmp_path: Path) -> None:
    bg = fake_omniglot(tmp_path)
    images = hf.fields.omniglot_images(tmp_path)
    assert images.train.shape == (6 * 20, 1, 28, 28) and images.test.shape == (4, 1, 28, 28)
    assert torch.equal(images.train[:20, 0], torch.from_numpy(bg[0]))


def test_tasks_are_registered_through_entry_points() -> None:
    entries = {e.name: e for e in hf.tasks.entries()}
    assert entries["omniglot"].source == "torch-hyperfunc" and entries["sinusoid"].source == "torch-hyperfunc"
    assert entries["omniglot"].value == "hyperfunc.fewshot._registered:omniglot"
    assert hf.tasks.get("sinusoid") is hf.fewshot.Sinusoid


def test_bytes_stored_episodes_equal_float_episodes(tmp_path: Path) -> None:
    fake_omniglot(tmp_path)
    floats = load_omniglot(tmp_path, rotations=True)
    stored = load_omniglot(tmp_path, rotations=True, dtype=torch.uint8)
    assert stored.dtype == torch.uint8 and stored.element_size() * 4 == floats.element_size()
    a = Episodes(floats, n_way=5, k_shot=2, q_query=3, batch_size=4, seed=7).batch(3)
    b = Episodes(stored, n_way=5, k_shot=2, q_query=3, batch_size=4, seed=7, dtype=torch.float32).batch(3)
    assert b.x_support.dtype == torch.float32
    torch.testing.assert_close(b.x_support, a.x_support)
    torch.testing.assert_close(b.x_query, a.x_query)
    registered = hf.tasks.get("omniglot")(n_way=5, k_shot=2, q_query=3, batch_size=4, seed=7, root=tmp_path)
    torch.testing.assert_close(registered.batch(3).x_query, a.x_query)
    assert "dtype=torch.float32" in repr(registered) and registered.replace(seed=1).dtype == torch.float32
    with pytest.raises(ValueError, match="dtype must be torch.uint8 or a floating dtype"):
        load_omniglot(tmp_path, dtype=torch.int64)
    with pytest.raises(ValueError, match="dtype must be None .* or a floating torch.dtype"):
        Episodes(stored, dtype=torch.int32)
