"""Synthetic histories for the store: runs whose ratios come from simulated paired timings.

Each run times a reference and a contender `pairs` times side by side; every time is jittered
by `noise` (relative, log-normal), as the results factory jitters each timed part; the ratio
and its CI are harness.analysis.stats.ratio_test's, exactly as analyze computes them. A `step` makes
the contender slower (step > 0) from run `step_at` on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from harness.analysis import stats
from harness.pooling.store_index import StoredRun

MACHINE = {
    "fingerprint": "a1b2c3d4e5f60718",
    "cpu_model": "Synthetic CPU @ 3.0GHz",
    "logical_cores": 2,
    "memory_bytes": 8 * 2**30,
    "arch": "x86_64",
    "blas_kernel": "Haswell",
}
OTHER_MACHINE = {**MACHINE, "fingerprint": "ffeeddccbbaa9988", "cpu_model": "Other CPU"}


@dataclass(frozen=True)
class History:
    """A series to simulate."""

    runs: int = 30
    noise: float = 0.05  # relative stddev of each timed process
    step: float = 0.0  # the contender's slow-down from step_at on (0.10 = 10 % slower)
    step_at: int = 15  # 0-based index of the first run after the step
    pairs: int = 6  # paired timed processes per run (3 seeds x 2 rounds, the default run)
    reference_seconds: float = 1.8
    contender_seconds: float = 1.4
    machine: dict | None = None
    spec_key: str = "0123456789abcdef"
    tag: str = "a"  # keeps identities apart between histories
    seed: int = 1


def runs(h: History) -> list[StoredRun]:
    """The history's runs, oldest first, in the store's rows."""
    rng = np.random.default_rng(h.seed)
    cfg = stats.StatsConfig()
    out = []
    for i in range(h.runs):
        ref = h.reference_seconds * np.exp(h.noise * rng.standard_normal(h.pairs))
        slow = 1 + h.step if i >= h.step_at else 1.0
        other = h.contender_seconds * slow * np.exp(h.noise * rng.standard_normal(h.pairs))
        whole = stats.ratio_test(ref, other, True, cfg)
        out.append(stored_run(h, i, whole))
    return out


def stored_run(h: History, i: int, test: stats.RatioTest) -> StoredRun:
    """One run's rows, like store_index.read_folder's."""
    identity = hashlib.sha256(f"{h.tag}-{h.seed}-{i}".encode()).hexdigest()
    day, minute = divmod(i, 1440)
    started = f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T{minute // 60:02d}:{minute % 60:02d}:00"
    run = {
        "identity": identity,
        "content": identity,
        "folder": f"/results/{h.tag}-{i:05d}",
        "spec_key": h.spec_key,
        "dataset": "mnist-mini",
        "target": 0.9,
        "commit": hashlib.sha1(f"{h.tag}{i}".encode()).hexdigest(),
        "dirty": False,
        "started_at": started + "+00:00",
        "alpha": 0.05,
        "busy": False,
        "indexed_at": "2026-12-01T00:00:00+00:00",
    }
    ratio = {
        "contender": "rust",
        "reference": "python-numpy",
        "metric": "run",
        **{k: getattr(test, k) for k in ("ratio", "ci_low", "ci_high", "p_value", "verdict")},
        "n": test.n,
        "paired": True,
    }
    contenders = [
        {"name": "python-numpy", "implementation": "python-numpy", "threads": 1},
        {"name": "rust", "implementation": "rust", "threads": 1},
    ]
    return StoredRun(dict(h.machine or MACHINE), run, contenders, [ratio])
