"""Opt-in downloads of the public datasets, each file checked against a pinned SHA-256.

Nothing here runs at import time or in the tests' normal course: :func:`fetch` is
called only by ``hyperfunc data fetch NAME --dest DIR`` (or a user). Each file is
streamed to a temporary name beside its destination, hashed as it arrives, and
renamed into place only when its size and SHA-256 match the pinned values, so a
cut connection or a changed file upstream leaves nothing that a loader would read.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import attrs

from hyperfunc._progress import progress

__all__ = ["Download", "DownloadError", "Source", "SOURCES", "fetch"]

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download failed, or its file is not the pinned one (nothing was kept)."""


@attrs.frozen
class Download:
    """One file of a dataset: where it is, where it goes, and what it must be.

    Attributes:
        url: its public http(s) address.
        file: its path under the destination directory.
        size: its length in bytes.
        sha256: its SHA-256, as lowercase hex.
    """

    url: str
    file: str
    size: int
    sha256: str


def _no_step(dest: Path) -> None:
    """Nothing to do after the download."""


@attrs.frozen
class Source:
    """A dataset :func:`fetch` can download.

    Attributes:
        name: what ``hyperfunc data fetch`` calls it.
        description: one line for ``hyperfunc data fetch --help``.
        downloads: its files.
        finish: run on the destination once every file is there (unpack, prepare).
    """

    name: str
    description: str
    downloads: tuple[Download, ...]
    finish: Callable[[Path], None] = _no_step


def _prepare_omniglot(dest: Path) -> None:
    from hyperfunc.datasets._omniglot import prepare_omniglot

    prepare_omniglot(dest / "omniglot", dest)


def _unpack_cifar10(dest: Path) -> None:
    """``cifar-10-batches-py/`` from the tarball: only its regular files, no links, no other paths."""
    final = dest / "cifar-10-batches-py"
    if final.is_dir():
        return
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".cifar-10-batches-py."))
    try:
        with tarfile.open(dest / "cifar-10-python.tar.gz", "r:gz") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if not member.isfile() or parts[:1] != ("cifar-10-batches-py",) or ".." in parts:
                    continue
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                target = tmp.joinpath(*parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
        os.replace(tmp, final)
    except (tarfile.TarError, OSError) as e:
        raise DownloadError(f"can't unpack {dest / 'cifar-10-python.tar.gz'}: {e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_OMNIGLOT = "https://github.com/brendenlake/omniglot/raw/master/python/"
_MNIST = "https://storage.googleapis.com/cvdf-datasets/mnist/"

#: Every dataset :func:`fetch` knows, by name. Sizes and SHA-256 sums as published
#: in TensorFlow Datasets' ``url_checksums`` (and, for CIFAR-10, by Keras and torchvision).
SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "omniglot",
            "Omniglot's two zips of PNGs (Lake et al. 2015), prepared as omniglot_28.npz (16 MB)",
            (
                Download(
                    _OMNIGLOT + "images_background.zip",
                    "omniglot/images_background.zip",
                    9464212,
                    "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640",
                ),
                Download(
                    _OMNIGLOT + "images_evaluation.zip",
                    "omniglot/images_evaluation.zip",
                    6462886,
                    "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee",
                ),
            ),
            _prepare_omniglot,
        ),
        Source(
            "mnist",
            "MNIST's four idx files (LeCun et al. 1998), from the CVDF mirror (12 MB)",
            tuple(
                Download(_MNIST + f"{stem}.gz", f"mnist/{stem}.gz", size, sha)
                for stem, size, sha in (
                    (
                        "train-images-idx3-ubyte",
                        9912422,
                        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    ),
                    (
                        "train-labels-idx1-ubyte",
                        28881,
                        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    ),
                    (
                        "t10k-images-idx3-ubyte",
                        1648877,
                        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    ),
                    (
                        "t10k-labels-idx1-ubyte",
                        4542,
                        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                    ),
                )
            ),
        ),
        Source(
            "cifar10",
            "CIFAR-10's python version (Krizhevsky 2009), unpacked to cifar-10-batches-py/ (170 MB)",
            (
                Download(
                    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                    "cifar-10-python.tar.gz",
                    170498071,
                    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                ),
            ),
            _unpack_cifar10,
        ),
    )
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(item: Download, target: Path, show: bool, timeout: float) -> None:
    if not item.url.startswith(("https://", "http://")):
        raise DownloadError(f"refusing to download {item.url!r}: only http(s) addresses are fetched")
    tmp, digest, got = target.with_name(f".{target.name}.{os.getpid()}.part"), hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out, urllib.request.urlopen(item.url, timeout=timeout) as response:
            for _ in progress(max(1, math.ceil(item.size / _CHUNK)), target.name, enabled=show):
                chunk = response.read(_CHUNK)
                digest.update(chunk)
                out.write(chunk)
                got += len(chunk)
            while chunk := response.read(_CHUNK):  # longer than announced: hash it all, then refuse
                digest.update(chunk)
                got += len(chunk)
        if got != item.size or digest.hexdigest() != item.sha256:
            raise DownloadError(
                f"{item.url} is not the pinned file: got {got:,} bytes with SHA-256 {digest.hexdigest()}, "
                f"expected {item.size:,} bytes with SHA-256 {item.sha256}. Nothing was kept; if the file "
                "changed upstream, download it by hand and check it before use"
            )
        os.replace(tmp, target)
    except DownloadError:
        raise
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"can't download {item.url}: {e}. Nothing was kept; try again") from None
    finally:
        tmp.unlink(missing_ok=True)


def fetch(name: str, dest: str | os.PathLike[str], *, show: bool = True, timeout: float = 60.0) -> Path:
    """Download the dataset ``name`` into ``dest``, check every file's SHA-256, unpack it.

    Files already in ``dest`` with the pinned SHA-256 are kept, not downloaded again.
    Afterwards the loaders read ``dest`` directly: ``load_omniglot(dest)``,
    ``load_mnist(dest)``, ``load_cifar10(dest)``, or ``hyperfunc run --data dest``.

    Args:
        name: a key of :data:`SOURCES` (``"omniglot"``, ``"mnist"``, ``"cifar10"``).
        dest: the data directory (created if missing).
        show: show a progress bar per file.
        timeout: seconds to wait for the server before giving up.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        KeyError: an unknown name (the message lists the known ones).
        DownloadError: the server could not be reached, or a file's size or SHA-256
            differs from the pinned one (the file is not kept).

    Examples:
        >>> from hyperfunc.datasets import SOURCES
        >>> sorted(SOURCES)
        ['cifar10', 'mnist', 'omniglot']
    """
    if name not in SOURCES:
        raise KeyError(f"unknown dataset {name!r}; choose from {', '.join(sorted(SOURCES))}")
    source, base = SOURCES[name], Path(dest).expanduser()
    for item in source.downloads:
        target = base / item.file
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file() and target.stat().st_size == item.size and _sha256(target) == item.sha256:
            continue
        _download(item, target, show, timeout)
    source.finish(base)
    return base
