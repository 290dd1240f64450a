"""The OpenBLAS library NumPy loaded: the `{numpy_blas}` placeholder of contenders.json.

`rust-numpy-blas` runs the Rust training step with every matrix product through this very file
(`mlp --blas-library PATH`), so that it and python-numpy share their kernels and differ only in
the code around them (harness.analysis.decompose). threadpoolctl names the file NumPy loaded; it is
asked in a child process of the harness's interpreter (the one python-numpy runs on), so no
BLAS thread pool starts in the harness itself (a process that forks with live BLAS threads can
hang). Where NumPy's BLAS is not OpenBLAS (Accelerate, MKL) there is no such file and the
contenders that need one are "not available here", with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.errors import HarnessError

PLACEHOLDER = "{numpy_blas}"
REQUIREMENT = "numpy-blas"  # the `requires` of a contender whose program holds the placeholder

_PROBE = (
    "import json, numpy; from threadpoolctl import threadpool_info; "
    "print(json.dumps([p for p in threadpool_info() if p.get('user_api') == 'blas']))"
)


@dataclass(frozen=True)
class Found:
    """NumPy's BLAS file when it is an OpenBLAS, else why not."""

    path: str | None
    reason: str | None  # why there is none (None when found)


def choose(pools: list[dict]) -> Found:
    """The first OpenBLAS among threadpoolctl's BLAS pools (reasons in words otherwise)."""
    if not pools:
        return Found(None, "NumPy loaded no BLAS library that threadpoolctl can see")
    for pool in pools:
        if pool.get("internal_api") == "openblas" and pool.get("filepath"):
            return Found(str(pool["filepath"]), None)
    seen = ", ".join(f"{p.get('internal_api')} ({p.get('filepath')})" for p in pools)
    return Found(None, f"NumPy's BLAS is not OpenBLAS but {seen}")


@cache
def find() -> Found:
    """NumPy's OpenBLAS file, asked once per process."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Found(None, f"cannot ask NumPy for its BLAS: {exc}")
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[-200:]
        return Found(None, f"cannot ask NumPy for its BLAS: {said}")
    return choose(json.loads(done.stdout))


def check(program: tuple[str, ...], spec: Path) -> None:
    """Run a contender that takes `--blas-library` for one step, before any timing: a library
    it refuses (not a shared library, no sgemm, 32-bit integers) ends the run here with the
    contender's own line (HarnessError, exit 2)."""
    argv = [*program, "train", "--spec", str(spec), "--max-steps", "1"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise HarnessError(f"{program[0]}: cannot run: {exc}") from exc
    if done.returncode == 0:
        return
    lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
    raise HarnessError(lines[-1].removeprefix("error: "))
