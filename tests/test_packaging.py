"""`pip install .` into a fresh venv gives a working `harness` command, hyperfine 2 and the data."""

from __future__ import annotations

import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a wheel is built from: the project file, its readme and the two packages.
SOURCES = ["pyproject.toml", "README.md", "harness", "python_impl"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the project installed by `pip install .` (dependencies included)."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "src"  # a clean copy, so the build leaves nothing in the checkout
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, source / name)
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    # --no-compile: Python compiles what the tests import, not every module of NumPy, SciPy,
    # pandas and matplotlib up front (halves the install; same files otherwise)
    pip = [env_dir / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-compile"]
    result = subprocess.run(
        [*pip, str(source)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return env_dir


@pytest.mark.slow
def test_the_installed_harness_command_prints_its_help(installed):
    result = subprocess.run(
        [installed / "bin" / "harness", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    for command in ("run", "report", "compare", "verify", "data", "env"):
        assert command in result.stdout


@pytest.mark.slow
def test_the_venv_gets_the_hyperfine_2_binary(installed):
    result = subprocess.run(
        [installed / "bin" / "hyperfine", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"hyperfine 2\.\d+\.\d+\s*", result.stdout)


@pytest.mark.slow
def test_the_installed_package_ships_the_embedded_dataset(installed):
    script = "from harness.preparation import datasets; print(datasets.resolve('mnist-mini', None))"
    result = subprocess.run(
        [installed / "bin" / "python", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=installed,  # not the checkout, so the import comes from the venv
    )
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip())
    assert folder.is_relative_to(installed)
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
