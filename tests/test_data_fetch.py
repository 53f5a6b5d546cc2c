"""``hyperfunc data fetch``: downloads checked against pinned SHA-256 sums, from a loopback server.

Nothing leaves this machine: each test serves fixture files (the published layouts,
made from ../shared/data) on 127.0.0.1 and points the dataset's pinned entries at them.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from public_layouts import (
    SHARED,
    cifar10_tar,
    cifar10_test_rows,
    mnist_gz,
    omniglot_pngs,
    shared_omniglot_rows,
)

from hyperfunc._cli import main
from hyperfunc.datasets import SOURCES, DownloadError, fetch, load_cifar10, load_mnist, load_omniglot


class Server:
    """Files served over HTTP on the loopback address; counts the requests per path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                data = owner.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, monkeypatch: pytest.MonkeyPatch, name: str, files: dict[str, bytes]) -> None:
        """Serve ``files`` (by the names of ``name``'s downloads) and pin the source to them."""
        downloads = []
        for item in SOURCES[name].downloads:
            data = files[Path(item.file).name]
            self.files[f"/{name}/{Path(item.file).name}"] = data
            downloads.append(
                attrs.evolve(
                    item,
                    url=f"{self.url}/{name}/{Path(item.file).name}",
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
        monkeypatch.setitem(SOURCES, name, attrs.evolve(SOURCES[name], downloads=tuple(downloads)))


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def omniglot_zips() -> dict[str, bytes]:
    out = {}
    for split in ("background", "evaluation"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in omniglot_pngs().items():
                if name.startswith(f"images_{split}/"):
                    archive.writestr(name, data)
        out[f"images_{split}.zip"] = buffer.getvalue()
    return out


def test_fetch_omniglot_downloads_checks_and_prepares(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server.serve(monkeypatch, "omniglot", omniglot_zips())
    assert fetch("omniglot", tmp_path / "data", show=False) == tmp_path / "data"
    assert (tmp_path / "data" / "omniglot_28.npz").is_file()
    got = load_omniglot(tmp_path / "data", "background", dtype=torch.uint8)
    np.testing.assert_array_equal(got[:, :, 0].numpy(), shared_omniglot_rows("background")["images"])
    assert len(server.requests) == 2
    fetch("omniglot", tmp_path / "data", show=False)  # already there, with the pinned sums
    assert len(server.requests) == 2


def test_fetch_mnist_and_cifar10_through_the_cli(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.serve(monkeypatch, "mnist", mnist_gz(train=50, test=20))
    server.serve(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": cifar10_tar(per_batch=8)})
    dest = tmp_path / "data"
    assert main(["data", "fetch", "mnist", "--dest", str(dest)]) == 0
    assert main(["data", "fetch", "cifar10", "--dest", str(dest)]) == 0
    assert f"use it with `hyperfunc run --data {dest}`" in capsys.readouterr().out
    mnist = load_mnist(dest)
    np.testing.assert_array_equal(mnist.x_test[:, 0], np.load(SHARED / "mnist.npz")["x_test"][:20])
    cifar = load_cifar10(dest)
    assert cifar.x_train.shape == (40, 3, 32, 32) and cifar.x_test.shape == (8, 3, 32, 32)
    test = np.load(SHARED / "cifar10_test2k.npz")
    rows = cifar10_test_rows(8)
    np.testing.assert_array_equal(cifar.x_test, test["x_test"][rows].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(cifar.y_test, test["y_test"][rows])


def test_a_file_that_differs_from_the_pinned_one_is_not_kept(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = mnist_gz(train=5, test=5)
    server.serve(monkeypatch, "mnist", files)
    changed = next(iter(server.files))
    server.files[changed] = server.files[changed][:-1] + b"!"  # the same length, another file
    with pytest.raises(
        DownloadError, match=r"is not the pinned file: got .* with SHA-256 [0-9a-f]{64}, expected"
    ):
        fetch("mnist", tmp_path, show=False)
    assert [p.name for p in (tmp_path / "mnist").iterdir()] == []  # nothing, not even a partial file
    assert main(["data", "fetch", "mnist", "--dest", str(tmp_path)]) == 1
    *_bar, error = capsys.readouterr().err.splitlines()  # the progress bar, then one line
    assert error.startswith("hyperfunc data: error: ") and "is not the pinned file" in error


def test_an_unreachable_file_is_one_clear_error(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server.serve(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": b"x"})
    server.files.clear()  # every request is answered 404
    with pytest.raises(
        DownloadError, match=r"can't download http://127.0.0.1:\d+/cifar10/.*404.*Nothing was kept"
    ):
        fetch("cifar10", tmp_path, show=False)
    assert list(tmp_path.iterdir()) == []


def test_cifar_tarball_members_outside_its_folder_or_not_files_are_skipped(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(cifar10_tar(per_batch=2)), mode="r:gz") as src,
        tarfile.open(fileobj=buffer, mode="w:gz") as tar,
    ):
        for member in src:
            tar.addfile(member, src.extractfile(member))
        evil = tarfile.TarInfo("cifar-10-batches-py/../../escaped")
        evil.size = 3
        tar.addfile(evil, io.BytesIO(b"bad"))
        link = tarfile.TarInfo("cifar-10-batches-py/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    server.serve(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": buffer.getvalue()})
    fetch("cifar10", tmp_path / "d", show=False)
    assert sorted(p.name for p in (tmp_path / "d" / "cifar-10-batches-py").iterdir()) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    )
    assert not (tmp_path / "escaped").exists() and load_cifar10(tmp_path / "d").x_train.shape[0] == 10


def test_only_http_addresses_are_fetched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    item = attrs.evolve(SOURCES["mnist"].downloads[0], url="file:///etc/passwd")
    monkeypatch.setitem(SOURCES, "mnist", attrs.evolve(SOURCES["mnist"], downloads=(item,)))
    with pytest.raises(DownloadError, match="only http"):
        fetch("mnist", tmp_path, show=False)


def test_unknown_dataset_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="choose from cifar10, mnist, omniglot"):
        fetch("imagenet", tmp_path)


def test_pinned_sums_are_well_formed() -> None:
    for source in SOURCES.values():
        for item in source.downloads:
            assert item.url.startswith("https://") and item.size > 0
            assert len(item.sha256) == 64 and set(item.sha256) <= set("0123456789abcdef")
