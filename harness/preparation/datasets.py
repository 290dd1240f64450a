"""Find the four IDX files of a dataset, and download the full-size ones (verified by sha256)."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError

# The four files every dataset folder holds, raw or with ".gz" (the order of CONTRACT.md).
IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# Default target test accuracy per dataset (time to accuracy: stop when correct > target * n).
DEFAULT_TARGET: dict[str, float] = {"mnist-mini": 0.90, "mnist": 0.96, "fashion-mnist": 0.85}

# Shipped inside the package, so an installed harness has it too.
EMBEDDED_DIR = Path(__file__).parent / "data" / "mnist-mini"

# Environment variable: base URLs (space or comma separated) that replace a dataset's mirrors.
MIRRORS_ENV = "MLP_BENCH_MIRRORS"

# Bytes read per network read while downloading.
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name on the mirrors and two accepted digests."""

    name: str  # file name on every mirror, e.g. "train-images-idx3-ubyte.gz"
    sha256: str  # sha256 of the published .gz, byte for byte
    idx_sha256: str  # sha256 of the uncompressed IDX bytes (accepted too: a re-compressed copy)


@dataclass(frozen=True)
class Source:
    """Where a downloadable dataset comes from and where a system copy may already be."""

    name: str  # dataset name, also the cache sub-folder
    mirrors: tuple[str, ...]  # base URLs tried in order; the file name is appended
    files: tuple[RemoteFile, ...]  # the four files, in IDX_NAMES order
    system_dirs: tuple[Path, ...] = field(default=())  # read-only copies installed by the OS


# Digests: the .gz sha256 values are the ones published with the official files (and used by
# torchvision, TFDS and many others); the uncompressed ones were cross-checked here: MNIST t10k
# against the embedded official test set (md5 2646ac647ad5339dbf082846283269ea for the images),
# Fashion-MNIST against Debian's dataset-fashion-mnist, whose .gz files are re-compressed copies
# (different .gz bytes) of the same content (uncompressed md5s equal the published ones).
SOURCES: dict[str, Source] = {
    "mnist": Source(
        name="mnist",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        files=(
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        ),
    ),
    "fashion-mnist": Source(
        name="fashion-mnist",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        files=(
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            ),
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
        ),
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    ),
}

KNOWN = ("mnist-mini", *SOURCES)


def cache_root() -> Path:
    """The user cache folder of the project: <platform cache>/mlp-bench."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "mlp-bench"


def missing_files(folder: Path) -> list[str]:
    """The IDX names for which neither the raw file nor the .gz exists in folder."""
    return [
        name
        for name in IDX_NAMES
        if not (folder / name).is_file() and not (folder / f"{name}.gz").is_file()
    ]


def locate(name: str, cache_dir: Path | None = None) -> Path | None:
    """The folder holding a complete copy of a known dataset, or None when there is none yet."""
    if name == "mnist-mini":
        return EMBEDDED_DIR
    source = _source(name)
    candidates = [*source.system_dirs, (cache_dir or cache_root()) / name]
    return next((d for d in candidates if d.is_dir() and not missing_files(d)), None)


def resolve(name: str, data_dir: Path | None) -> Path:
    """The folder with the four IDX files: data_dir if given, else the known copy of `name`."""
    if data_dir is not None:
        if not data_dir.is_dir():
            raise HarnessError(f"{data_dir}: not a directory; --data-dir expects a folder")
        missing = missing_files(data_dir)
        if missing:
            raise HarnessError(
                f"{data_dir}: missing {', '.join(missing)} (raw or .gz); "
                f"expected the four MNIST-format IDX files"
            )
        return data_dir
    folder = locate(name)
    if folder is None:
        where = " or ".join(str(d) for d in [*_source(name).system_dirs, cache_root() / name])
        raise HarnessError(
            f'dataset "{name}" is not available (looked in {where}); run '
            f"`python -m harness data fetch {name}` or pass --data-dir DIR"
        )
    return folder


def fetch(
    name: str,
    cache_dir: Path | None = None,
    mirrors: list[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Download a dataset into <cache_dir or cache_root()>/<name>/ and return that folder."""
    if name == "mnist-mini":
        return EMBEDDED_DIR
    source = _source(name)
    if mirrors is None and os.environ.get(MIRRORS_ENV, "").strip():
        mirrors = os.environ[MIRRORS_ENV].replace(",", " ").split()
    dest = (cache_dir or cache_root()) / name
    download(source, dest, list(mirrors or source.mirrors), log or _to_stderr)
    return dest


def download(source: Source, dest: Path, mirrors: list[str], log: Callable[[str], None]) -> None:
    """Fetch every file of source into dest, trying the mirrors in turn for each file."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(
            f"{dest}: cannot create the download cache: {exc.strerror}; set XDG_CACHE_HOME to "
            "a writable folder, or pass --data-dir with files you already have"
        ) from exc
    for remote in source.files:
        final = dest / remote.name
        if final.is_file():
            if verify(final, remote):
                continue
            log(f"{final}: checksum mismatch, downloading it again")
            final.unlink()
        failures: list[str] = []
        unreachable = 0
        for base in mirrors:
            url = base.rstrip("/") + "/" + remote.name
            problem = _fetch_one(url, final, remote, log)
            if problem is None:
                break
            failures.append(f"{url}: {problem}")
            unreachable += problem.startswith("unreachable")
        else:
            raise HarnessError(_failure_message(source.name, remote.name, failures, unreachable))


def verify(path: Path, remote: RemoteFile) -> bool:
    """True when the file is the published .gz or, once decompressed, the published content."""
    if _sha256_file(path) == remote.sha256:
        return True
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
    except (OSError, EOFError):  # not gzip, or a damaged stream
        return False
    return digest.hexdigest() == remote.idx_sha256


def _fetch_one(url: str, final: Path, remote: RemoteFile, log: Callable[[str], None]) -> str | None:
    """Download url into final via a .part file; None on success, else why it failed."""
    part = final.with_name(final.name + ".part")
    for _ in range(2):  # a resumed file that fails its checksum is fetched once more from zero
        resumed = part.is_file() and part.stat().st_size > 0
        problem = _transfer(url, part, log)
        if problem is not None:
            return problem
        if verify(part, remote):
            os.replace(part, final)
            return None
        part.unlink()
        if not resumed:
            break
    return f"checksum mismatch (expected sha256 {remote.sha256}); file removed"


def _transfer(url: str, part: Path, log: Callable[[str], None]) -> str | None:
    """Append the rest of url's body to part (HTTP Range when part exists); None when complete."""
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "mlp-bench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the .part is not a prefix we can resume: start over
            part.unlink()
            return _transfer(url, part, log)
        return f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"unreachable ({reason})"
    with response:
        if response.status != 206:  # the server sent the whole file, not the requested range
            have = 0
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length and length.isdigit() else None
        log(f"downloading {url}" + (f" (resuming at byte {have})" if have else ""))
        received = have
        try:
            with part.open("ab" if have else "wb") as out:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
        except (http.client.IncompleteRead, OSError) as error:
            return f"truncated transfer after {received} bytes ({type(error).__name__})"
    if expected is not None and received < expected:
        return f"truncated transfer: {received} of {expected} bytes"
    return None


def _failure_message(dataset: str, file: str, failures: list[str], unreachable: int) -> str:
    """One line: why no mirror gave the file, and the ways to get data without them."""
    debian = "install the Debian package dataset-fashion-mnist"
    alternatives = "pass --data-dir DIR holding the four IDX files (raw or .gz), or " + (
        debian if dataset == "fashion-mnist" else f"run --dataset fashion-mnist ({debian})"
    )
    if failures and unreachable == len(failures):
        hosts = ", ".join(f.split("/")[2] for f in failures)
        return (
            f"cannot download {dataset}: no mirror is reachable ({hosts}), offline?; {alternatives}"
        )
    return f"cannot download {dataset}/{file}: {'; '.join(failures)}; instead, {alternatives}"


def _source(name: str) -> Source:
    """The download source of a dataset name, or a HarnessError listing the known names."""
    if name not in SOURCES:
        raise HarnessError(f'unknown dataset "{name}" (known: {", ".join(KNOWN)})')
    return SOURCES[name]


def _sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _to_stderr(line: str) -> None:
    """Default progress log: one line on stderr."""
    print(line, file=sys.stderr, flush=True)
