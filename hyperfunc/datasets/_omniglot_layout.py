"""Omniglot as its authors distribute it: ``images_{split}`` folders or zips of 105×105 PNGs.

Lake's repository (github.com/brendenlake/omniglot, ``python/``) ships
``images_background.zip`` and ``images_evaluation.zip``; each holds
``images_{split}/<alphabet>/characterNN/<id>_<drawer>.png``, black strokes on white.
torchvision unpacks the same zips into ``omniglot-py/``. :func:`read_omniglot_split`
reads either form (folder or zip) into the arrays of hyperfunc's cached
``omniglot_28.npz``: characters ordered by alphabet name, then character number,
drawers by the ``_01``..``_20`` suffix, each image area-averaged from 105×105 to
28×28 with ink = 255.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hyperfunc.datasets._root import DataNotFoundError

__all__ = ["OMNIGLOT_SPLITS", "find_omniglot_split", "read_omniglot_split"]

OMNIGLOT_SPLITS = ("background", "evaluation")
_DRAWERS = 20
_SIDE = 105
_SMALL = 28
_NAME = re.compile(r"(?:^|/)images_(background|evaluation)/([^/]+)/character(\d+)/(\d+)_(\d+)\.png$")


def find_omniglot_split(base: Path, split: str) -> Path | None:
    """The ``images_{split}`` folder or zip under ``base`` (or its ``omniglot``/``omniglot-py``), if any."""
    for folder in (base, base / "omniglot", base / "omniglot-py"):
        for candidate in (folder / f"images_{split}", folder / f"images_{split}.zip"):
            if candidate.exists():
                return candidate
    return None


def _files(source: Path) -> Iterator[tuple[str, bytes]]:
    """``(relative name, PNG bytes)`` of every file in a folder or zip."""
    if source.is_dir():
        for path in sorted(source.rglob("*.png")):
            yield f"{source.name}/{path.relative_to(source).as_posix()}", path.read_bytes()
        return
    try:
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, archive.read(info)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{str(source)!r} is not a readable zip file ({e}); download it again") from None


def _small(png: bytes, name: str) -> np.ndarray:
    """One 105×105 PNG as a 28×28 uint8 image, ink = 255 (area average, like PIL's BOX filter)."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            "reading Omniglot's PNG files needs Pillow; install it with: pip install 'torch-hyperfunc[data]'"
        ) from exc
    try:
        with Image.open(io.BytesIO(png)) as image:
            paper = np.asarray(image.convert("L")) >= 128
    except (OSError, ValueError) as e:
        raise ValueError(f"{name} is not a readable PNG image ({e})") from None
    if paper.shape != (_SIDE, _SIDE):
        raise ValueError(f"{name} is {paper.shape[1]}×{paper.shape[0]} pixels; Omniglot's images are 105×105")
    ink = Image.fromarray(np.where(paper, 0, 255).astype(np.uint8), mode="L")
    return np.asarray(ink.resize((_SMALL, _SMALL), Image.Resampling.BOX))


def read_omniglot_split(source: Path, split: str) -> dict[str, np.ndarray]:
    """One split from an ``images_{split}`` folder or zip, as the arrays of ``omniglot_28.npz``.

    Returns the keys ``{split}_images`` (uint8 ``[characters, 20, 28, 28]``, ink = 255),
    ``{split}_alphabet`` (index into ``{split}_alphabet_names``), ``{split}_character``
    (the NN of ``characterNN``) and ``{split}_char_id`` (the id in the file names).

    Raises:
        DataNotFoundError: no Omniglot PNGs of this split in ``source``.
        ValueError: a character without exactly drawers 1..20, a file that is not a
            105×105 PNG, or a damaged zip (the message names every problem).
    """
    found: dict[tuple[str, int], dict[int, tuple[int, str, bytes]]] = {}
    for name, data in _files(source):
        m = _NAME.search(name)
        if m is None or m.group(1) != split:
            continue
        alphabet, character, char_id, drawer = m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5))
        found.setdefault((alphabet, character), {})[drawer] = (char_id, name, data)
    if not found:
        raise DataNotFoundError(
            f"no Omniglot {split} images in {str(source)!r}: expected PNG files named "
            f"images_{split}/<alphabet>/characterNN/<id>_<drawer>.png, as in images_{split}.zip "
            "from https://github.com/brendenlake/omniglot (python/)"
        )
    keys = sorted(found)  # alphabet name, then character number
    problems = [
        f"{alphabet}/character{character:02d} has drawers {sorted(found[alphabet, character])}"
        for alphabet, character in keys
        if sorted(found[alphabet, character]) != list(range(1, _DRAWERS + 1))
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(
            f"{str(source)!r} is not a complete Omniglot {split} split: every character needs drawers "
            f"1..{_DRAWERS}, but {shown}. Unpack or download images_{split}.zip again"
        )
    names = sorted({alphabet for alphabet, _ in keys})
    images = np.empty((len(keys), _DRAWERS, _SMALL, _SMALL), dtype=np.uint8)
    for row, key in enumerate(keys):
        for drawer, (_, name, data) in found[key].items():
            images[row, drawer - 1] = _small(data, f"{name} in {str(source)!r}")
    return {
        f"{split}_images": images,
        f"{split}_alphabet": np.array([names.index(a) for a, _ in keys], dtype=np.int16),
        f"{split}_character": np.array([c for _, c in keys], dtype=np.int16),
        f"{split}_char_id": np.array([found[k][1][0] for k in keys], dtype=np.int16),
        f"{split}_alphabet_names": np.array(names),
    }
