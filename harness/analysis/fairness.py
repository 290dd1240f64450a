"""The fairness evidence of a results folder, as data (names, numbers and codes, no sentences).

- spec hashes: the sha256 of spec.json, the one run.json declares, and the one each
  contender's start events report (read with harness.model.stream, leniently);
- seed epochs: per seed, each contender's epochs to target; a mismatch carries its likely
  cause as a code (`rounding`: one epoch apart with the slower side's accuracy within the
  margin of the target at the earlier epoch; `trajectory`: more than that; `no_epoch_log`);
- evaluator rows: the referee's count of each saved model against the contender's claim;
- parity: parity.json's verdict and its per-tensor differences, flattened.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.pairing import seed_key
from harness.analysis.stats import finite, number
from harness.model.records import Manifest, Outcome
from harness.model.stream import read_stream


def spec_hashes(run_dir: Path, manifest: Manifest) -> dict[str, Any]:
    """The spec's sha256 from spec.json, run.json and every metrics start event."""
    seen: dict[str, set[str]] = {}
    metrics = run_dir / "metrics"
    for path in sorted(metrics.glob("**/*.jsonl")):
        parts = path.relative_to(metrics).parts  # <c>/seed-<s>[/<tag>].jsonl, or <c>.jsonl
        name = parts[0] if len(parts) > 1 else path.stem
        for process in read_stream(path, strict=False).processes:
            sha = (process.start or {}).get("spec_sha256")
            if sha:
                seen.setdefault(name, set()).add(str(sha))
    spec = run_dir / "spec.json"
    file_hash = hashlib.sha256(spec.read_bytes()).hexdigest() if spec.is_file() else None
    declared = manifest.spec_sha256 or file_hash
    every = {h for v in seen.values() for h in v} | {h for h in (declared, file_hash) if h}
    return {
        "spec_file": file_hash,
        "declared": declared,
        "by_contender": {k: sorted(v) for k, v in seen.items()},
        "consistent": len(every) <= 1,
    }


def seed_epochs(
    ok_runs: pd.DataFrame,
    epochs: pd.DataFrame | None,
    order: list[str],
    target: float | None,
    margin: float,
) -> list[dict[str, Any]]:
    """Per seed, each contender's distinct epochs to target (successful runs); mismatches."""
    if ok_runs.empty or ok_runs["epochs"].isna().all():
        return []
    rows = []
    for seed in sorted(set(ok_runs["seed"]) - {""}, key=seed_key):
        sub = ok_runs[ok_runs["seed"] == seed]
        counts = {}
        for name in order:
            values = sorted({int(e) for e in finite(sub.loc[sub["contender"] == name, "epochs"])})
            if values:
                counts[name] = values
        distinct = sorted({e for v in counts.values() for e in v})
        row: dict[str, Any] = {"seed": seed, "epochs": counts, "mismatch": len(distinct) > 1}
        if row["mismatch"]:
            row["cause"] = _mismatch_cause(seed, counts, epochs, target, margin)
        rows.append(row)
    return rows


def _mismatch_cause(
    seed: str,
    counts: dict[str, list[int]],
    epochs: pd.DataFrame | None,
    target: float | None,
    margin: float,
) -> dict[str, Any]:
    """Whether an epoch-count difference is float rounding at the threshold, as data."""
    low = min(e for v in counts.values() for e in v)
    high = max(e for v in counts.values() for e in v)
    cause: dict[str, Any] = {"low": low, "high": high, "target": target}
    if epochs is None or epochs.empty or target is None:
        return {**cause, "code": "no_epoch_log"}
    slow = [name for name, v in counts.items() if high in v]
    at_low = epochs[
        (epochs["seed"] == seed) & (epochs["contender"].isin(slow)) & (epochs["epoch"] == low)
    ]
    acc = finite(at_low["test_accuracy"])
    near = acc.size and bool(np.all(np.abs(acc - float(target)) <= margin))
    if high - low == 1 and near:
        return {**cause, "code": "rounding", "accuracy": float(acc.max()), "epoch": low}
    return {**cause, "code": "trajectory"}


def evaluator_rows(evaluator: pd.DataFrame | None) -> list[dict[str, Any]]:
    """tables/evaluator.csv as records; `agrees` a bool (None when the model was missing)."""
    if evaluator is None or evaluator.empty:
        return []
    frame = evaluator.astype(object).where(evaluator.notna(), None)
    records = frame.to_dict(orient="records")
    for row in records:
        for key, value in row.items():
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                row[key] = value.strip().lower() == "true"
            elif isinstance(value, float | np.floating):
                row[key] = number(value)
            elif isinstance(value, np.integer | np.bool_):
                row[key] = value.item()
    return records


def parity(parity_json: dict[str, Any] | None, manifest: Manifest, outcome: Outcome) -> dict:
    """parity.json's status, steps, tolerance and per-tensor rows (a, b, tensor, diffs, ok)."""
    data = parity_json or {}
    rows = []
    pairs = data.get("pairs") if isinstance(data.get("pairs"), list) else []
    for pair in (p for p in pairs if isinstance(p, dict)):  # a damaged file: what can be read
        tensors = pair.get("tensors")
        for t in tensors if isinstance(tensors, list) else [pair]:
            if not isinstance(t, dict):
                continue
            rows.append(
                {
                    "a": pair.get("a"),
                    "b": pair.get("b"),
                    "tensor": t.get("tensor"),
                    "max_abs": number(t.get("max_abs")),
                    "max_rel": number(t.get("max_rel")),
                    "ok": bool(t.get("ok", t.get("passed"))),
                    "note": str(t.get("note", "")),
                }
            )
    status = data.get("status") or outcome.parity_status or "skipped"
    tolerance = data.get("tolerance") if isinstance(data.get("tolerance"), dict) else {}
    return {
        "status": status,
        "steps": data.get("steps", manifest.parity_steps),
        "tolerance": tolerance,
        "rows": rows,
    }
