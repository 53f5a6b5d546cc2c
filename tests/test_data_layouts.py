"""Datasets read from the layouts they are published in, and ``hyperfunc data prepare``.

The reference is hyperfunc's shared ``omniglot_28.npz``: Omniglot's PNGs written from
the shared 105×105 bits and read back must give the same 28×28 images, pixel for pixel.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from public_layouts import SHARED, mnist_gz, shared_omniglot_rows, write_omniglot

from hyperfunc._cli import main
from hyperfunc.datasets import (
    DataNotFoundError,
    load_mnist,
    load_omniglot,
    prepare_omniglot,
)
from hyperfunc.datasets._omniglot_layout import read_omniglot_split

SPLITS = ("background", "evaluation")


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_omniglot(tmp_path_factory.mktemp("omniglot-zips"), zipped=True)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "folder"])
def test_omniglot_pngs_read_as_the_shared_28x28_images(tmp_path: Path, split: str, zipped: bool) -> None:
    root = write_omniglot(tmp_path, zipped=zipped)
    source = root / (f"images_{split}.zip" if zipped else f"images_{split}")
    got = read_omniglot_split(source, split)
    want = shared_omniglot_rows(split)
    assert len(want["images"]) == 12
    for key, value in want.items():
        np.testing.assert_array_equal(got[f"{split}_{key}"], value, err_msg=key)
    names = np.load(SHARED / "omniglot_28.npz")[f"{split}_alphabet_names"]
    assert list(got[f"{split}_alphabet_names"]) == list(names[:3])


def test_load_omniglot_reads_the_zips_and_the_prepared_file_alike(zips: Path, tmp_path: Path) -> None:
    from_zips = load_omniglot(zips, "evaluation")
    want = torch.from_numpy(shared_omniglot_rows("evaluation")["images"]).float()[:, :, None] / 255
    torch.testing.assert_close(from_zips, want, rtol=0, atol=0)
    path = prepare_omniglot(zips, tmp_path)
    assert path == tmp_path / "omniglot_28.npz"
    for split in SPLITS:
        torch.testing.assert_close(load_omniglot(tmp_path, split), load_omniglot(zips, split), rtol=0, atol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["omniglot_28.npz"]  # no temporary left


def test_torchvision_layout_is_found(tmp_path: Path) -> None:
    write_omniglot(tmp_path / "omniglot-py", zipped=False, alphabets=1, characters=2)
    assert load_omniglot(tmp_path, "background", dtype=torch.uint8).shape == (2, 20, 1, 28, 28)


def _zip_without(src: Path, dest: Path, drop: str) -> None:
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dest, "w") as b:
        for info in a.infolist():
            if not info.filename.endswith(drop):
                b.writestr(info, a.read(info))


def test_incomplete_split_is_refused_naming_the_character(zips: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "images_evaluation.zip").write_bytes((zips / "images_evaluation.zip").read_bytes())
    _zip_without(zips / "images_background.zip", src / "images_background.zip", "_07.png")
    with pytest.raises(ValueError, match=r"character01 has drawers \[1, 2, 3, 4, 5, 6, 8,.*and 7 more"):
        prepare_omniglot(src)
    assert sorted(p.name for p in src.iterdir()) == ["images_background.zip", "images_evaluation.zip"]


def test_a_file_that_is_not_a_png_is_named(zips: Path, tmp_path: Path) -> None:
    (tmp_path / "images_evaluation.zip").write_bytes((zips / "images_evaluation.zip").read_bytes())
    bad = tmp_path / "images_background" / "Alpha" / "character01"
    bad.mkdir(parents=True)
    for drawer in range(1, 21):
        (bad / f"0001_{drawer:02d}.png").write_bytes(b"not a png")
    with pytest.raises(
        ValueError, match=r"images_background/Alpha/character01/0001_01.png .* not a readable PNG"
    ):
        prepare_omniglot(tmp_path)
    assert not (tmp_path / "omniglot_28.npz").exists()


def test_a_damaged_zip_is_named(tmp_path: Path) -> None:
    (tmp_path / "images_background.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="images_background.zip' is not a readable zip file"):
        load_omniglot(tmp_path, "background")


def test_missing_omniglot_lists_the_places_and_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_omniglot(tmp_path, "background")
    message = str(info.value)
    assert "omniglot_28.npz" in message and "images_background[.zip]" in message
    assert f"hyperfunc data fetch omniglot --dest {tmp_path}" in message
    with pytest.raises(DataNotFoundError, match="no Omniglot evaluation split"):
        (tmp_path / "images_background").mkdir()
        prepare_omniglot(tmp_path)


def test_cli_prepare(zips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "prepare", "omniglot", str(zips), "--dest", str(tmp_path)]) == 0
    assert f"wrote {tmp_path / 'omniglot_28.npz'}" in capsys.readouterr().out
    assert load_omniglot(tmp_path, "background").shape == (12, 20, 1, 28, 28)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "prepare", "omniglot", "no/such/dir"], "Omniglot source 'no/such/dir' is not a directory"),
        (["data", "prepare", "omniglot", "."], "no Omniglot background or evaluation split under '.'"),
    ],
)
def test_cli_prepare_mistakes_are_one_line_and_status_2(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hyperfunc data: error: ") and message in err
    assert list(tmp_path.iterdir()) == []


def test_mnist_from_gzipped_idx_files(tmp_path: Path) -> None:
    for name, data in mnist_gz(train=30, test=10).items():
        (tmp_path / "mnist").mkdir(exist_ok=True)
        (tmp_path / "mnist" / name).write_bytes(data)
    got = load_mnist(tmp_path)
    want = np.load(SHARED / "mnist.npz")
    np.testing.assert_array_equal(got.x_train[:, 0], want["x_train"][:30])
    np.testing.assert_array_equal(got.y_test, want["y_test"][:10])
