"""The Rust binary's product kernel, chosen by measurement (rust_impl/src/tune.rs), for env.json.

`mlp` times each built-in kernel (the gemm crate, matrixmultiply) on whole SGD steps of the
network's own shapes at one thread's share of a mini-batch, keeps the faster, and caches the
choice per machine. prepare runs it once per thread count before any timing, with the run's
spec and one step, so no timed run pays the measurement and env.json records what was chosen
(`rust_kernels`: threads -> the start event's `kernel_choice`: the kernel, each candidate's
seconds per step, the cache file).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.model.stream import read_stream
from harness.preparation.contenders import Contender


def measured(c: Contender) -> bool:
    """Whether the contender is the `mlp` binary choosing its own kernel (not --blas-library,
    not --kernel NAME)."""
    return (
        c.needs_cargo
        and c.cargo_package in (None, "mlp")
        and c.algorithm == "batched"
        and not {"--blas-library", "--kernel"} & set(c.program)
    )


def choose(contenders: list[Contender], spec: Path) -> dict[str, Any]:
    """threads -> the kernel choice of each measured contender's binary (first per count); a
    run that fails is recorded with its last stderr line instead."""
    out: dict[str, Any] = {}
    for c in contenders:
        if not measured(c) or str(c.threads) in out:
            continue
        with tempfile.TemporaryDirectory(prefix="harness-kernel-") as tmp:
            metrics = Path(tmp) / "m.jsonl"
            argv = [*c.program, "train", "--spec", str(spec), "--threads", str(c.threads)]
            argv += ["--max-steps", "1", "--metrics-out", str(metrics)]
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            start = _start_event(metrics)
        if start is not None and "kernel_choice" in start:
            out[str(c.threads)] = {**start["kernel_choice"], "gemm": start.get("gemm")}
        else:
            said = done.stderr.strip().splitlines()
            out[str(c.threads)] = {"error": said[-1] if said else f"exit {done.returncode}"}
    return out


def _start_event(metrics: Path) -> dict[str, Any] | None:
    """The start event of the one process a metrics stream holds, if it wrote one."""
    try:
        processes = read_stream(metrics, strict=False).processes
    except HarnessError:  # no file: the binary failed before writing one
        return None
    return processes[0].start if processes else None
