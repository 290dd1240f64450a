"""Dataset resolution and downloads, against a local HTTP server (no test touches the internet)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.preparation import datasets

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


def fake_idx(name: str, count: int = 3) -> bytes:
    """A tiny valid IDX file: `count` 2x2 images or `count` labels, chosen by the name."""
    if "images" in name:
        return struct.pack(">IIII", 0x803, count, 2, 2) + bytes(range(4 * count))
    return struct.pack(">II", 0x801, count) + bytes(i % 10 for i in range(count))


@dataclass
class FakeMirror:
    """What one mirror serves: bodies by file name, plus how it misbehaves."""

    files: dict[str, bytes] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # answered with 404
    truncate: set[str] = field(default_factory=set)  # full Content-Length, half the body
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (file, Range header)


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """Serves /<mirror>/<file> from the FakeMirror table of the server, with Range support."""

    def do_GET(self) -> None:
        """Answer one GET as the addressed fake mirror would."""
        _, mirror_name, file = self.path.split("/", 2)
        mirror: FakeMirror = self.server.mirrors[mirror_name]  # type: ignore[attr-defined]
        mirror.requests.append((file, self.headers.get("Range")))
        if file in mirror.missing or file not in mirror.files:
            self.send_error(404)
            return
        body = mirror.files[file]
        start = 0
        if (ranged := self.headers.get("Range")) and file not in mirror.truncate:
            start = int(ranged.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if file in mirror.truncate:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@dataclass
class Server:
    """A running local server and the base URL of each fake mirror on it."""

    mirrors: dict[str, FakeMirror]
    port: int

    def url(self, mirror: str) -> str:
        """Base URL of one fake mirror."""
        return f"http://127.0.0.1:{self.port}/{mirror}/"


@pytest.fixture
def server() -> Iterator[Server]:
    """An HTTP server on 127.0.0.1 in a thread, with two empty mirrors 'a' and 'b'."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MirrorHandler)
    httpd.mirrors = {"a": FakeMirror(), "b": FakeMirror()}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield Server(httpd.mirrors, httpd.server_address[1])  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def tiny() -> tuple[datasets.Source, dict[str, bytes]]:
    """A registered fake dataset 'tiny' of four small gzipped IDX files, and their bodies."""
    bodies = {f"{n}.gz": gzip.compress(fake_idx(n), mtime=0) for n in datasets.IDX_NAMES}
    files = tuple(
        datasets.RemoteFile(
            name,
            hashlib.sha256(body).hexdigest(),
            hashlib.sha256(gzip.decompress(body)).hexdigest(),
        )
        for name, body in bodies.items()
    )
    return datasets.Source(name="tiny", mirrors=(), files=files), bodies


@pytest.fixture
def registered(tiny, monkeypatch) -> tuple[datasets.Source, dict[str, bytes]]:
    """The tiny dataset, known to fetch() under the name 'tiny'."""
    monkeypatch.setitem(datasets.SOURCES, "tiny", tiny[0])
    return tiny


def fetch_tiny(cache: Path, mirrors: list[str]) -> Path:
    """Fetch the registered 'tiny' dataset into cache from these mirrors, without progress lines."""
    return datasets.fetch("tiny", cache, mirrors, log=lambda line: None)


def closed_port() -> int:
    """A local TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fetch_downloads_all_four_files_and_verifies_them(server, registered, tmp_path):
    _, bodies = registered
    server.mirrors["a"].files.update(bodies)
    folder = fetch_tiny(tmp_path, [server.url("a")])
    assert folder == tmp_path / "tiny"
    assert {p.name for p in folder.iterdir()} == set(bodies)
    assert all((folder / name).read_bytes() == body for name, body in bodies.items())
    assert datasets.missing_files(folder) == []


def test_fetch_defaults_to_the_xdg_cache_folder(server, registered, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    server.mirrors["a"].files.update(registered[1])
    folder = datasets.fetch("tiny", mirrors=[server.url("a")], log=lambda line: None)
    assert folder == tmp_path / "xdg" / "mlp-bench" / "tiny"


def test_mirrors_can_be_replaced_by_the_environment_variable(
    server, registered, tmp_path, monkeypatch
):
    server.mirrors["b"].files.update(registered[1])
    monkeypatch.setenv(
        datasets.MIRRORS_ENV, f"http://127.0.0.1:{closed_port()}/x, {server.url('b')}"
    )
    folder = datasets.fetch("tiny", tmp_path, log=lambda line: None)
    assert datasets.missing_files(folder) == []


def test_a_checksum_mismatch_removes_the_file_and_tries_the_next_mirror(
    server, registered, tmp_path
):
    _, bodies = registered
    server.mirrors["a"].files.update({name: b"not the published file" for name in bodies})
    server.mirrors["b"].files.update(bodies)
    folder = fetch_tiny(tmp_path, [server.url("a"), server.url("b")])
    assert all((folder / name).read_bytes() == body for name, body in bodies.items())
    assert not list(folder.glob("*.part"))
    assert len(server.mirrors["a"].requests) == 4


def test_a_mirror_whose_every_copy_is_wrong_gives_one_error_and_leaves_no_file(
    server, registered, tmp_path
):
    _, bodies = registered
    server.mirrors["a"].files.update({name: b"garbage" for name in bodies})
    with pytest.raises(HarnessError, match="checksum mismatch") as caught:
        fetch_tiny(tmp_path, [server.url("a")])
    assert "\n" not in str(caught.value)
    assert "--data-dir" in str(caught.value)
    assert list((tmp_path / "tiny").iterdir()) == []


def test_a_404_on_the_first_mirror_falls_back_to_the_second(server, registered, tmp_path):
    _, bodies = registered
    server.mirrors["b"].files.update(bodies)
    folder = fetch_tiny(tmp_path, [server.url("a"), server.url("b")])
    assert datasets.missing_files(folder) == []
    assert [file for file, _ in server.mirrors["a"].requests] == list(bodies)


def test_a_truncated_transfer_tries_the_next_mirror_and_resumes_with_range(
    server, registered, tmp_path
):
    _, bodies = registered
    first = next(iter(bodies))
    server.mirrors["a"].files.update(bodies)
    server.mirrors["a"].truncate.add(first)
    server.mirrors["b"].files.update(bodies)
    folder = fetch_tiny(tmp_path, [server.url("a"), server.url("b")])
    assert (folder / first).read_bytes() == bodies[first]
    assert server.mirrors["b"].requests == [(first, f"bytes={len(bodies[first]) // 2}-")]


def test_a_leftover_part_file_is_resumed_with_a_range_request(server, registered, tmp_path):
    _, bodies = registered
    server.mirrors["a"].files.update(bodies)
    first = next(iter(bodies))
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / f"{first}.part").write_bytes(bodies[first][:10])
    folder = fetch_tiny(tmp_path, [server.url("a")])
    assert (folder / first).read_bytes() == bodies[first]
    assert server.mirrors["a"].requests[0] == (first, "bytes=10-")


def test_a_leftover_part_file_that_is_not_a_prefix_is_fetched_again_from_zero(
    server, registered, tmp_path
):
    _, bodies = registered
    server.mirrors["a"].files.update(bodies)
    first = next(iter(bodies))
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / f"{first}.part").write_bytes(b"\x00" * 10)
    folder = fetch_tiny(tmp_path, [server.url("a")])
    assert (folder / first).read_bytes() == bodies[first]
    assert server.mirrors["a"].requests[:2] == [(first, "bytes=10-"), (first, None)]


def test_verified_files_are_not_downloaded_again(server, registered, tmp_path):
    server.mirrors["a"].files.update(registered[1])
    fetch_tiny(tmp_path, [server.url("a")])
    server.mirrors["a"].requests.clear()
    fetch_tiny(tmp_path, [server.url("a")])
    assert server.mirrors["a"].requests == []


def test_a_recompressed_copy_with_the_published_content_is_accepted(server, registered, tmp_path):
    _, bodies = registered
    recompressed = {n: gzip.compress(gzip.decompress(b), mtime=12345) for n, b in bodies.items()}
    assert recompressed != bodies
    server.mirrors["a"].files.update(recompressed)
    folder = fetch_tiny(tmp_path, [server.url("a")])
    assert datasets.missing_files(folder) == []


def test_unreachable_mirrors_give_one_offline_message_naming_the_alternatives(registered, tmp_path):
    port = closed_port()
    mirrors = [f"http://127.0.0.1:{port}/a/", f"http://127.0.0.1:{port}/b/"]
    with pytest.raises(HarnessError) as caught:
        datasets.fetch("tiny", tmp_path, mirrors, log=lambda line: None)
    message = str(caught.value)
    assert "no mirror is reachable" in message
    assert "--data-dir" in message
    assert "dataset-fashion-mnist" in message
    assert "\n" not in message


def test_fetching_mnist_mini_returns_the_embedded_folder_without_network(tmp_path):
    assert datasets.fetch("mnist-mini", tmp_path, []) == datasets.EMBEDDED_DIR


def test_an_unknown_dataset_name_lists_the_known_ones():
    with pytest.raises(HarnessError, match=r'unknown dataset "cifar" \(known: mnist-mini, mnist'):
        datasets.resolve("cifar", None)


def test_resolve_always_finds_the_embedded_mnist_mini():
    folder = datasets.resolve("mnist-mini", None)
    assert datasets.missing_files(folder) == []
    assert (folder / "t10k-images-idx3-ubyte.gz").stat().st_size > 1_000_000


def test_the_embedded_test_set_is_the_official_mnist_test_set():
    source = datasets.SOURCES["mnist"]
    for remote in source.files[2:]:
        assert datasets.verify(datasets.EMBEDDED_DIR / remote.name, remote)


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_resolve_finds_the_system_fashion_mnist_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datasets.resolve("fashion-mnist", None) == SYSTEM_FASHION


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_the_system_fashion_mnist_copy_matches_the_published_content():
    source = datasets.SOURCES["fashion-mnist"]
    assert all(datasets.verify(SYSTEM_FASHION / remote.name, remote) for remote in source.files)


def test_resolve_says_how_to_get_mnist_when_it_is_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(HarnessError) as caught:
        datasets.resolve("mnist", None)
    assert "python -m harness data fetch mnist" in str(caught.value)
    assert "--data-dir" in str(caught.value)


def test_resolve_finds_mnist_in_the_cache_once_fetched(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "mlp-bench" / "mnist"
    folder.mkdir(parents=True)
    for name in datasets.IDX_NAMES:
        (folder / name).write_bytes(fake_idx(name))
    assert datasets.resolve("mnist", None) == folder


def test_a_data_dir_with_the_four_files_is_used_as_given(tmp_path):
    for name in datasets.IDX_NAMES[:2]:
        (tmp_path / name).write_bytes(fake_idx(name))
    for name in datasets.IDX_NAMES[2:]:
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(fake_idx(name)))
    assert datasets.resolve("mnist", tmp_path) == tmp_path


def test_a_data_dir_missing_files_names_each_missing_one(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(HarnessError) as caught:
        datasets.resolve("mnist", tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: missing train-labels-idx1-ubyte, t10k-images")
    assert "train-images-idx3-ubyte," not in message


def test_a_data_dir_that_does_not_exist_is_a_clear_error(tmp_path):
    with pytest.raises(HarnessError, match="not a directory"):
        datasets.resolve("mnist", tmp_path / "nowhere")


def test_macos_uses_library_caches(monkeypatch):
    monkeypatch.setattr(datasets.sys, "platform", "darwin")
    assert datasets.cache_root() == Path.home() / "Library" / "Caches" / "mlp-bench"


def test_default_targets_cover_every_known_dataset():
    assert set(datasets.DEFAULT_TARGET) == set(datasets.KNOWN)
