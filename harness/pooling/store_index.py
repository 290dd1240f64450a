"""One results folder as the store indexes it (pure reading: harness.model.records, no database).

The folder stays the source of truth; the store keeps what the history needs:

- the machine: a fingerprint of the hardware only (CPU model, logical cores, memory, CPU
  architecture, the BLAS kernel OpenBLAS chose for it), so that a NumPy upgrade, a new commit
  or another host name on the same hardware (CI runners) stays one history, and a different
  runner does not;
- the spec key: spec.json hashed without `dataset.dir` (a machine-local path), so the same
  workload from two checkouts is one spec and a different one never joins it;
- the folder's identity: its name (`<time>-<host>[-N]`, `latest` resolved), run.json (written
  once by prepare), env.json and the start time hashed, so the same folder added twice, from
  another path (`results/latest`) or copied to another machine, is one run;
  `content` hashes analysis.json and outcome.json too, so a re-analysed folder is updated.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.model.analysis import Analysis
from harness.model.folder import Folder
from harness.model.identity import machine_of, spec_key
from harness.model.records import (
    now_iso,
    read_json,
)

METRICS = {"run": None, "epoch": "per_epoch"}  # metric -> key of the comparison in analysis.json


@dataclass
class StoredRun:
    """Rows for the store: the machine, the run, its contenders and its ratios."""

    machine: dict[str, Any]
    run: dict[str, Any]
    contenders: list[dict[str, Any]] = field(default_factory=list)
    ratios: list[dict[str, Any]] = field(default_factory=list)


def _sha(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""


def commit_time(commit: str | None) -> str | None:
    """The commit's committer time (ISO 8601) from this checkout's git, when git knows it."""
    from harness.preparation.contenders import ROOT

    if not commit:
        return None
    try:
        out = subprocess.run(
            ["git", "show", "-s", "--format=%cI", commit],
            cwd=ROOT, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def _run_row(folder: Folder, env: dict[str, Any], analysis: Analysis) -> dict[str, Any]:
    """The runs table's row, less identity, machine and spec."""
    manifest, outcome = folder.manifest, folder.outcome
    git = env.get("git") if isinstance(env.get("git"), dict) else {}
    numpy = env.get("numpy") if isinstance(env.get("numpy"), dict) else {}
    pools = [p for p in numpy.get("blas") or [] if isinstance(p, dict)]
    first = pools[0] if pools else {}
    blas = " ".join(str(first[k]) for k in ("internal_api", "version") if first.get(k))
    noise = analysis.noise
    loads = [noise.load_before, noise.load_after]
    load = [v[0] if isinstance(v, list) and v else v for v in loads]
    commit = git.get("commit") or env.get("git_commit")
    return {
        "folder": str(folder.path.resolve()),
        "dataset": analysis.dataset,
        "target": analysis.target,
        "commit": commit,
        "dirty": git.get("dirty", env.get("git_dirty")),
        "commit_time": commit_time(commit),
        "started_at": outcome.started,
        "finished_at": outcome.finished,
        "hostname": env.get("hostname"),
        "os": env.get("os"),
        "python": (env.get("python") or {}).get("version")
        if isinstance(env.get("python"), dict)
        else env.get("python_version"),
        "numpy": numpy.get("version") or env.get("numpy_version"),
        "blas": blas or env.get("blas"),
        "torch": env.get("torch"),
        "rustc": env.get("rustc") or env.get("rustc_version"),
        "crates": json.dumps(env.get("crates") or {}, sort_keys=True),
        "hyperfine": (manifest.hyperfine or {}).get("version"),
        "sgemm_gflops": json.dumps(analysis.floor.sgemm_gflops or {}),
        "alpha": analysis.config.alpha,
        "load_before": load[0] if isinstance(load[0], int | float) else None,
        "load_after": load[1] if isinstance(load[1], int | float) else None,
        "other_share": noise.other_share,
        "busy": bool(noise.busy),
        "slow_rounds": len(noise.slow_rounds),
        "rounds_done": outcome.rounds_done,
        "interrupted": outcome.interrupted,
        "parity": outcome.parity_status,
        "indexed_at": now_iso(),
    }


def _contender_rows(analysis: Analysis) -> list[dict[str, Any]]:
    rows = []
    for s in analysis.contenders:
        wall, spe = s.wall, s.seconds_per_epoch
        rows.append(
            {
                "name": s.name,
                **{k: getattr(s, k) for k in ("implementation", "algorithm", "threads")},
                **{k: getattr(s, k) for k in ("language", "approach", "status", "runs")},
                "successes": s.successes,
                "median_seconds": wall.median,
                "median_ci_low": wall.ci_low,
                "median_ci_high": wall.ci_high,
                "seconds_per_epoch": spe.median,
                **{k: getattr(s, k) for k in ("epochs_median", "train_gflops", "sgemm_fraction")},
                "max_rss_mib": s.max_rss_mib,
            }
        )
    return rows


def _ratio_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """The like-for-like comparisons (equal threads), whole run and per epoch."""
    rows = []
    for c in analysis.comparisons:
        for metric, key in METRICS.items():
            test = getattr(c, key) if key else c
            if not test or test.ratio is None:
                continue
            rows.append(
                {
                    "contender": c.contender,
                    "reference": c.reference,
                    "metric": metric,
                    **{k: getattr(test, k) for k in ("ratio", "ci_low", "ci_high", "p_value")},
                    **{k: getattr(test, k) for k in ("verdict", "n", "paired")},
                }
            )
    return rows


def read_folder(path: Path, harness_version: str | None = None) -> StoredRun:
    """Everything the store keeps of one results folder; HarnessError naming what is missing."""
    path = Path(path)
    if not path.is_dir():
        what = "not a directory" if path.exists() else "no such directory"
        raise HarnessError(f"{path}: not a results folder ({what})")
    if not (path / "spec.json").is_file():
        raise HarnessError(
            f"{path}: no spec.json (not a `harness run` folder); the store keeps runs by spec"
        )
    folder = Folder(path)
    analysis, env, outcome = folder.analysis, folder.env or {}, folder.outcome
    run = _run_row(folder, env, analysis)
    run["identity"] = _sha(
        path.resolve().name.encode(),
        _bytes(path / "run.json"),
        _bytes(path / "env.json"),
        str(outcome.started).encode(),
    )
    run["content"] = _sha(
        run["identity"].encode(), _bytes(path / "analysis.json"), _bytes(path / "outcome.json")
    )
    run["spec_key"] = spec_key(folder.spec)
    run["harness_version"] = harness_version or read_json(path / "run.json", False).get(
        "harness_version"
    )
    return StoredRun(machine_of(env), run, _contender_rows(analysis), _ratio_rows(analysis))
