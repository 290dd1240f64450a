"""Shared fixtures: a tiny real dataset, the fake contenders, both hyperfine versions."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKES_FILE = ROOT / "tests" / "fakes" / "contenders.json"
EMBEDDED = ROOT / "harness" / "preparation" / "data" / "mnist-mini"
# The two hyperfine binaries the harness supports: schema 2 (2.0) and schema 1.x (Debian 1.15).
HYPERFINES = {
    "2.0": Path(sys.executable).parent / "hyperfine",
    "1.15": Path("/usr/bin/hyperfine"),
}
TINY_SIZES = {"train": 300, "t10k": 200}  # samples kept from mnist-mini: one step per epoch
# Every whole run measures the sgemm floor; 0.3 s (not the default 3 s) is plenty for the tiny
# network and saves minutes over the suite. Set here, it reaches every harness the tests start.
os.environ.setdefault("HARNESS_FLOOR_SECONDS", "0.3")

# The quick loop (`pytest -m "not slow"`) is the pure functions: a test that starts real
# processes (the fake or real contenders, hyperfine, cargo, a browser) is `slow`, marked here
# by the fixtures it uses or in its module (pytestmark), so no test has to remember it.
PROCESS_FIXTURES = {"tiny_data", "fakes", "any_hyperfine", "hyperfine2"}
PROCESS_MODULES = {
    "test_contract_agreement",
    "test_faults_contenders",
    "test_browser",
    "test_reference_cli",
}


# Fixtures wider than one test that cost next to nothing to build again on another worker:
# files read from the repository, and `programs` (the Rust binary: cargo's lock and cache make
# a second worker's build wait for the first and then do nothing).
CHEAP_SHARED = {"tiny_data", "programs", "mini", "hand_computed", "tmp_path_factory"}


# A wrapper runs before every plain implementation: the marks must be there when `-m` selects
# and when pytest-xdist's worker reads xdist_group (a tryfirst hook came too late for that).
@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    """Mark every test that starts real processes as slow (see PROCESS_FIXTURES), and group
    the tests that share an expensive fixture for `pytest -n 2 --dist loadgroup`."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & PROCESS_FIXTURES or item.module.__name__ in PROCESS_MODULES:
            item.add_marker(pytest.mark.slow)
    for item, group in shared_fixture_groups(items).items():
        item.add_marker(pytest.mark.xdist_group(group))
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    """Refuse `--dist loadgroup` where pytest-xdist cannot see the groups: on pytest 9.2 its
    nodeid suffix is ignored (pytest-xdist issue #1386), so every worker would silently build
    every shared fixture again (pyproject.toml pins pytest < 9.2 for this)."""
    major_minor = tuple(int(n) for n in pytest.__version__.split(".")[:2])
    if config.getoption("dist", default="no") == "loadgroup" and major_minor >= (9, 2):
        raise pytest.UsageError(
            f"pytest {pytest.__version__}: pytest-xdist's --dist loadgroup ignores the groups "
            "on pytest 9.2 (pytest-xdist issue #1386); `pip install -e '.[dev]'` installs "
            "pytest < 9.2, or use --dist loadfile"
        )


def shared_fixture_groups(items: list[pytest.Item]) -> dict[pytest.Item, str]:
    """item -> a group name, for every test that uses a module- or session-scoped fixture.

    A worker builds such a fixture once for all the tests it runs, so the tests sharing one
    (say good_run, a whole harness run) belong on one worker; the other tests spread over
    the workers one by one. A module's own fixtures are keyed by the module, conftest's by
    name; tests that share any key end in one group (union-find over the keys).
    """
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    keys_of: dict[pytest.Item, list[str]] = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        keys = []
        for name, defs in info.name2fixturedefs.items() if info else ():
            scope = defs[-1].scope
            if scope in ("module", "package", "session") and name not in CHEAP_SHARED:
                keys.append(item.module.__name__ if scope == "module" else name)
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
        if keys:
            keys_of[item] = keys
    return {item: root(keys[0]) for item, keys in keys_of.items()}


def _slice_idx(raw: bytes, count: int, images: bool) -> bytes:
    """The first `count` items of an IDX file, header rewritten."""
    if images:
        magic, _, rows, cols = struct.unpack(">IIII", raw[:16])
        return struct.pack(">IIII", magic, count, rows, cols) + raw[16 : 16 + count * rows * cols]
    magic, _ = struct.unpack(">II", raw[:8])
    return struct.pack(">II", magic, count) + raw[8 : 8 + count]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with 300 training and 200 test digits of mnist-mini (raw IDX files)."""
    folder = tmp_path_factory.mktemp("tiny-mnist")
    for split, count in TINY_SIZES.items():
        for kind, images in (("images-idx3", True), ("labels-idx1", False)):
            name = f"{split}-{kind}-ubyte"
            raw = gzip.decompress((EMBEDDED / f"{name}.gz").read_bytes())
            (folder / name).write_bytes(_slice_idx(raw, count, images))
    return folder


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Register the fake contenders of tests/fakes/contenders.json."""
    monkeypatch.setenv("HARNESS_CONTENDERS_FILE", str(FAKES_FILE))
    return FAKES_FILE


@pytest.fixture(params=sorted(HYPERFINES))
def any_hyperfine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each supported hyperfine in turn (HYPERFINE=...); skipped when not installed."""
    path = HYPERFINES[request.param]
    if not path.exists():
        pytest.skip(f"hyperfine {request.param} not installed at {path}")
    monkeypatch.setenv("HYPERFINE", str(path))
    return request.param


@pytest.fixture
def hyperfine2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use hyperfine 2.0 (the venv's) for tests that need only one version."""
    path = HYPERFINES["2.0"]
    if not path.exists():
        pytest.skip("hyperfine 2.0 not installed in the venv")
    monkeypatch.setenv("HYPERFINE", str(path))


@contextlib.contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (mount's -o size=) at `mount`, unmounted afterwards: a small disk to
    fill. The calling test is skipped, saying why, where mounting is not permitted."""
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def run_args(out: Path, data: Path, contenders: str, *extra: str) -> list[str]:
    """`harness run` arguments for a quick run over the tiny data (1 seed, 1 run, no warmup)."""
    return [
        "run", "--out", str(out), "--data-dir", str(data), "--contenders", contenders,
        "--seeds", "1", "--runs", "1", "--warmup", "0", "--quiet", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def good_run(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """One real run of fake-ok and python-numpy (2 rounds), reported; tests that damage a
    results folder take a copy (`folder`)."""
    from harness.__main__ import main

    out = tmp_path_factory.mktemp("good")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CONTENDERS_FILE", str(FAKES_FILE))
        mp.setenv("HYPERFINE", str(HYPERFINES["2.0"]))
        argv = run_args(out, tiny_data, "fake-ok,python-numpy", "--skip-parity")
        assert main([*argv, "--runs", "2", "--target", "0.01"]) == 0
    return (out / "latest").resolve()


@pytest.fixture
def folder(good_run: Path, tmp_path: Path) -> Path:
    """A private copy of the good run to damage."""
    copy = tmp_path / "run"
    shutil.copytree(good_run, copy, symlinks=True)
    return copy
