"""flake.nix parses and gives every system a full devShell (evaluated offline, stand-in nixpkgs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAND_IN = ROOT / "tests" / "nix-stand-in"
SYSTEMS = ["aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux"]
TOOLS = ["rustc", "cargo", "clippy", "rustfmt", "hyperfine", "python3-with-packages"]
PYTHON_PACKAGES = [
    "numpy",
    "pandas",
    "matplotlib",
    "jinja2",
    "scipy",
    "safetensors",
    "threadpoolctl",
    "rich",
    "sqlalchemy",
    "psycopg",
    "ruptures",
    "pytest",
    "pytest-xdist",
    "ruff",
]

needs_nix = pytest.mark.skipif(
    shutil.which("nix") is None or shutil.which("nix-instantiate") is None,
    reason="nix not installed (Debian: apt install nix-bin)",
)


def nix_eval(tmp_path: Path, attribute: str) -> object:
    """Evaluate flake.nix's attribute as JSON against the stand-in, in a private temp store."""
    flake, stand_in, home = tmp_path / "flake", tmp_path / "stand-in", tmp_path / "home"
    for folder in (flake, stand_in, home):
        folder.mkdir()
    shutil.copy(ROOT / "flake.nix", flake)  # a copy: a path: flake would copy the whole tree
    shutil.copy(STAND_IN / "flake.nix", stand_in)
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env.pop("NIX_REMOTE", None)
    result = subprocess.run(
        [
            "nix",
            "eval",
            "--json",
            "--offline",
            "--no-write-lock-file",
            "--extra-experimental-features",
            "nix-command flakes",
            "--store",
            str(tmp_path / "store"),
            "--override-input",
            "nixpkgs",
            f"path:{stand_in}",
            f"path:{flake}#{attribute}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@needs_nix
def test_flake_nix_parses():
    result = subprocess.run(
        ["nix-instantiate", "--parse", str(ROOT / "flake.nix")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@needs_nix
def test_every_system_gets_a_devshell_with_the_toolchain_and_python_packages(tmp_path):
    shells = nix_eval(tmp_path, "devShells")
    assert sorted(shells) == SYSTEMS
    for system, outputs in shells.items():
        shell = outputs["default"]
        assert shell["system"] == system
        assert shell["packageNames"] == TOOLS
        assert shell["pythonPackages"] == PYTHON_PACKAGES


@needs_nix
def test_the_devshell_puts_the_checkout_on_pythonpath(tmp_path):
    hook = nix_eval(tmp_path, "devShells.x86_64-linux.default.shellHook")
    assert 'export PYTHONPATH="$PWD' in hook


@needs_nix
def test_every_system_has_the_rfc_style_formatter(tmp_path):
    formatters = nix_eval(tmp_path, "formatter")
    assert formatters == {system: {"pname": "nixfmt"} for system in SYSTEMS}


def test_x86_64_darwin_is_offered_only_with_the_25_11_pin_that_still_supports_it():
    text = (ROOT / "flake.nix").read_text()
    assert 'inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";' in text
    assert '"x86_64-darwin"' in text
