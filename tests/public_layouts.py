"""Small copies of the datasets in the layouts they are published in, made from ../shared/data.

* Omniglot: ``images_{split}/<alphabet>/characterNN/<id>_<drawer>.png`` as in Lake's
  ``images_{split}.zip`` (black strokes on white, 1-bit PNGs), written from the
  105×105 bits of ``omniglot_105_bits.npz``, so a loader's result can be compared
  pixel for pixel with ``omniglot_28.npz``.
* MNIST: the four gzipped idx files.
* CIFAR-10: ``cifar-10-python.tar.gz`` holding ``cifar-10-batches-py/`` pickles.

``python tests/public_layouts.py DIR`` writes all three under ``DIR`` (the wheel check in
noxfile.py uses it).
"""

from __future__ import annotations

import gzip
import io
import pickle
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def omniglot_pngs(alphabets: int = 3, characters: int = 4) -> dict[str, bytes]:
    """``{name in the zip: PNG bytes}`` for the first characters of the first alphabets of each split."""
    from PIL import Image

    bits = np.load(SHARED / "omniglot_105_bits.npz")
    files = {}
    for split in ("background", "evaluation"):
        names, alphabet = bits[f"{split}_alphabet_names"], bits[f"{split}_alphabet"]
        character, char_id = bits[f"{split}_character"], bits[f"{split}_char_id"]
        rows = [r for r in range(len(alphabet)) if alphabet[r] < alphabets and character[r] <= characters]
        ink = np.unpackbits(bits[f"{split}_bits"][rows], axis=-1)[..., :105]
        for row, images in zip(rows, ink):
            folder = f"images_{split}/{names[alphabet[row]]}/character{character[row]:02d}"
            for drawer, image in enumerate(images, start=1):
                buffer = io.BytesIO()
                Image.fromarray(image == 0).convert("1").save(buffer, format="PNG")  # white paper
                files[f"{folder}/{char_id[row]:04d}_{drawer:02d}.png"] = buffer.getvalue()
    return files


def write_omniglot(root: Path, zipped: bool = True, **sizes: int) -> Path:
    """Omniglot's two splits under ``root`` as zips (as downloaded) or unpacked folders."""
    root.mkdir(parents=True, exist_ok=True)
    files = omniglot_pngs(**sizes)
    for split in ("background", "evaluation"):
        mine = {k: v for k, v in files.items() if k.startswith(f"images_{split}/")}
        if zipped:
            with zipfile.ZipFile(root / f"images_{split}.zip", "w") as archive:
                for name, data in mine.items():
                    archive.writestr(name, data)
        else:
            for name, data in mine.items():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(data)
    return root


def shared_omniglot_rows(split: str, alphabets: int = 3, characters: int = 4) -> dict[str, np.ndarray]:
    """The rows of ``omniglot_28.npz`` that :func:`omniglot_pngs` wrote, in the same order."""
    data = np.load(SHARED / "omniglot_28.npz")
    alphabet, character = data[f"{split}_alphabet"], data[f"{split}_character"]
    rows = np.flatnonzero((alphabet < alphabets) & (character <= characters))
    return {key: data[f"{split}_{key}"][rows] for key in ("images", "alphabet", "character", "char_id")}


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in the idx format of LeCun's MNIST files."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def mnist_gz(train: int = 600, test: int = 200) -> dict[str, bytes]:
    """``{file name: gzipped idx bytes}``: the first images of the shared MNIST."""
    data = np.load(SHARED / "mnist.npz")
    sizes = {"x_train": train, "y_train": train, "x_test": test, "y_test": test}
    return {
        name: gzip.compress(idx_bytes(data[key][: sizes[key]]), mtime=0) for key, name in MNIST_FILES.items()
    }


def cifar10_test_rows(n: int) -> np.ndarray:
    """The rows of ``cifar10_test2k.npz`` (200 per class, by class) in the test batch: classes in turn."""
    return np.arange(n) % 10 * 200 + np.arange(n) // 10


def cifar10_tar(per_batch: int = 40) -> bytes:
    """``cifar-10-python.tar.gz`` with five training batches and a test batch of the shared images."""
    train, test = np.load(SHARED / "cifar10_train5k.npz"), np.load(SHARED / "cifar10_test2k.npz")
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for i, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
            x, y = (
                (test["x_test"], test["y_test"])
                if name == "test_batch"
                else (train["x_train"], train["y_train"])
            )
            rows = rng.choice(len(x), per_batch, replace=False) if i < 5 else cifar10_test_rows(per_batch)
            batch = {
                b"batch_label": name.encode(),
                b"labels": [int(v) for v in y[rows]],
                b"data": x[rows].transpose(0, 3, 1, 2).reshape(per_batch, -1).copy(),
                b"filenames": [f"{name}_{r}.png".encode() for r in rows],
            }
            data = pickle.dumps(batch, protocol=3)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_all(root: Path) -> None:
    """Omniglot zips, MNIST idx files and the CIFAR-10 tarball (unpacked) under ``root``."""
    write_omniglot(root / "omniglot", alphabets=2, characters=6)
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for name, data in mnist_gz().items():
        (root / "mnist" / name).write_bytes(data)
    with tarfile.open(fileobj=io.BytesIO(cifar10_tar()), mode="r:gz") as tar:
        tar.extractall(root, filter="data")


if __name__ == "__main__":
    write_all(Path(sys.argv[1]))
