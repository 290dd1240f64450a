"""Which runs count and what is compared with what, for analyze and compare.

- A run counts when it is not `invalid` (a metrics stream problem); it is successful when it
  reached the target (hyperfine-only input: exit code 0 or unknown).
- Each run's wall time splits into five parts that add up to it (PARTS): outside main
  (hyperfine's wall minus the process's own clock: start-up before main, save and exit after),
  data load, set-up in main (the rest of the process's clock), training and evaluation.
- Two runs pair when they share a seed and a measuring round (they ran close in time); folders
  without rounds pair by seed and run index; without seeds the samples are independent.
- Like for like: each contender's reference is the main reference's implementation and
  algorithm at the contender's own thread count (python-numpy@2 for rust@2).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import stats
from harness.model.tables import read_runs

PARTS = ("outside", "load", "setup", "train", "eval")


def seed_key(seed: str) -> tuple[int, Any]:
    """Sort seeds numerically when they are numbers."""
    try:
        return (0, int(float(seed)))
    except ValueError:
        return (1, seed)


def successful(runs: pd.DataFrame) -> pd.Series:
    """Runs that reached the target (hyperfine-only input: exit code 0 or unknown)."""
    clean_exit = runs["exit_code"].isna() | (runs["exit_code"] == 0)
    return (runs["status"] == "reached_target") | ((runs["status"] == "no_metrics") & clean_exit)


def load_runs(run_dir: Path) -> pd.DataFrame:
    """runs.csv with the five parts of each run's wall time (outside..eval) as columns."""
    runs = read_runs(run_dir)
    outside = runs["wall_seconds"] - runs["metrics_wall_seconds"]
    runs["outside"] = runs["startup_seconds"].fillna(outside)
    runs["load"] = runs["load_seconds"]
    inner = runs["metrics_wall_seconds"] - runs[["load", "train_seconds", "eval_seconds"]].sum(
        axis=1, min_count=3
    )
    runs["setup"] = runs["setup_seconds"].fillna(inner)
    runs["train"], runs["eval"] = runs["train_seconds"], runs["eval_seconds"]
    runs["ok"] = successful(runs)
    return runs


def median_split(ok: pd.DataFrame) -> dict[str, float] | None:
    """The parts of the median run (the mean of the two middle runs for an even count).

    The parts add up to that run's wall time, so the split adds up to the median wall time.
    """
    complete = ok.dropna(subset=["wall_seconds", *PARTS]).sort_values("wall_seconds")
    n = len(complete)
    if not n:
        return None
    middle = complete.iloc[[(n - 1) // 2, n // 2]]
    split = {part: float(middle[part].mean()) for part in PARTS}
    return {**split, "total": float(middle["wall_seconds"].mean())}


def pair(ref: pd.DataFrame, other: pd.DataFrame, column: str) -> tuple[Any, Any, str]:
    """Paired arrays by (seed, round), else (seed, run_index); else two independent samples."""
    for keys in (["seed", "round"], ["seed", "run_index"]):
        usable = [f[(f["seed"] != "") & f[keys[1]].notna()] for f in (ref, other)]
        if any(f.empty or f.duplicated(keys).any() for f in usable):
            continue
        joined = usable[0].merge(usable[1], on=keys, suffixes=("_a", "_b"))
        a, b = joined[f"{column}_a"].to_numpy(float), joined[f"{column}_b"].to_numpy(float)
        keep = np.isfinite(a) & np.isfinite(b)
        if keep.sum() >= 2:
            return a[keep], b[keep], "+".join(keys)
    return stats.finite(ref[column]), stats.finite(other[column]), "independent"


def references(infos: dict[str, dict[str, Any]], main: str | None) -> dict[str, str]:
    """contender -> its like-for-like reference (absent when none runs at its thread count)."""
    if main is None or main not in infos:
        return {}
    kind = {k: infos[main].get(k) for k in ("implementation", "algorithm")}
    by_threads = {infos[main].get("threads"): main}
    for name, info in infos.items():
        if kind["implementation"] and all(info.get(k) == v for k, v in kind.items()):
            by_threads.setdefault(info.get("threads"), name)
    return {
        name: by_threads[info.get("threads")]
        for name, info in infos.items()
        if info.get("threads") in by_threads and by_threads[info.get("threads")] != name
    }


def compare_pair(
    ok: dict[str, pd.DataFrame], summaries: dict[str, dict], ref: str, name: str, cfg: Any
) -> dict[str, Any]:
    """One contender against one reference: wall time, per epoch, per seed, parts saved."""
    a, b, pairing = pair(ok[ref], ok[name], "wall_seconds")
    test = stats.ratio_test(a, b, pairing != "independent", cfg)
    row: dict[str, Any] = {"contender": name, "reference": ref, "pairing": pairing}
    row.update(asdict(test))
    a, b, epoch_pairing = pair(ok[ref], ok[name], "seconds_per_epoch")
    per_epoch = stats.ratio_test(a, b, epoch_pairing != "independent", cfg)
    row["per_epoch"] = asdict(per_epoch) if per_epoch.ratio is not None else None
    row["per_seed"] = []
    for seed in sorted(set(ok[ref]["seed"]) & set(ok[name]["seed"]) - {""}, key=seed_key):
        of_seed = [f[f["seed"] == seed] for f in (ok[ref], ok[name])]
        a, b, seed_pairing = pair(*of_seed, "wall_seconds")
        ratio = stats.ratio_test(a, b, seed_pairing != "independent", cfg).ratio
        row["per_seed"].append({"seed": seed, "ratio": ratio})
    ref_split, split = summaries[ref]["split"], summaries[name]["split"]
    row["saved"] = (
        {p: ref_split[p] - split[p] for p in (*PARTS, "total")} if ref_split and split else None
    )
    return row


def comparisons(
    summaries: dict[str, dict], ok: dict[str, pd.DataFrame], main: str | None, cfg: Any
) -> tuple[list[dict], list[dict]]:
    """Like-for-like comparisons (equal threads) and cross-thread ones (vs the main reference)."""
    if main is None:
        return [], []
    like = [
        compare_pair(ok, summaries, ref, name, cfg)
        for name, ref in references(summaries, main).items()
    ]
    threads = summaries[main].get("threads")
    cross = [
        compare_pair(ok, summaries, main, name, cfg)
        for name, s in summaries.items()
        if name != main and s.get("threads") != threads
    ]
    return like, cross
