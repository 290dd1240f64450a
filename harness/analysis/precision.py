"""`run --precision P --max-time S`: add rounds until every like-for-like ratio is known to ±P.

After each round (from the third on), every like-for-like pair (a contender and the reference
implementation at the same thread count) gets the same statistic the report uses
(harness.analysis.stats.ratio_test on the runs paired by seed and round); its precision is the CI's
relative half-width, sqrt(high / low) - 1. Measuring stops when every pair's precision is at
most P, when the time budget is spent (default 900 s), or at 100 rounds. The reason is stored
in outcome.json as a code (precision, time, max_rounds) with the precision reached, and the
report says it in words.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.analysis import stats
from harness.analysis.pairing import references
from harness.model.records import Manifest

DEFAULT_MAX_TIME = 900.0  # seconds of measuring when --precision is given without --max-time
MIN_ROUNDS = 3  # a t-interval from fewer pairs per seed is too wide to be worth testing
MAX_ROUNDS = 100


def like_for_like(manifest: Manifest) -> list[tuple[str, str]]:
    """(reference, contender) pairs at equal thread counts: the pairs the report judges."""
    infos = {
        c.name: {"implementation": c.implementation, "algorithm": c.algorithm, "threads": c.threads}
        for c in manifest.contenders
    }
    return [(ref, name) for name, ref in references(infos, manifest.reference).items()]


def worst_precision(journal: list[dict[str, Any]], pairs: list[tuple[str, str]]) -> float | None:
    """The widest relative CI half-width over the pairs (None while one has no CI)."""
    times = {
        (e["contender"], e["seed"], e["round"]): e["wall_seconds"]
        for e in journal
        if not e.get("warmup") and e.get("exit_code") == 0 and e.get("wall_seconds")
    }
    worst, judged = 0.0, 0
    succeeded = {c for (c, _seed, _round) in times}
    for ref, other in pairs:
        if ref not in succeeded or other not in succeeded:
            continue  # a pair that never succeeded cannot narrow (measure stops running it)
        keys = sorted(_keys(times, ref) & _keys(times, other))
        a = np.array([times[(ref, *k)] for k in keys])
        b = np.array([times[(other, *k)] for k in keys])
        reached = stats.precision(stats.ratio_test(a, b, paired=True, cfg=stats.StatsConfig()))
        if reached is None:
            return None
        worst, judged = max(worst, reached), judged + 1
    return worst if judged else None


def _keys(times: dict[tuple, float], name: str) -> set[tuple]:
    return {(seed, round_) for (c, seed, round_) in times if c == name}


def stop_rule(manifest: Manifest) -> Callable[[list[dict[str, Any]], int], tuple[str, Any]]:
    """The measure loop's stop rule for --precision: (reason code or "" to go on, reached)."""
    target = float(manifest.precision or 0.0)
    budget = manifest.max_time or DEFAULT_MAX_TIME
    pairs = like_for_like(manifest)
    started = time.monotonic()

    def rule(journal: list[dict[str, Any]], rounds: int) -> tuple[str, float | None]:
        reached = worst_precision(journal, pairs) if rounds >= MIN_ROUNDS else None
        if reached is not None and reached <= target:
            return "precision", reached
        if time.monotonic() - started >= budget:
            return "time", reached
        if rounds >= MAX_ROUNDS:
            return "max_rounds", reached
        return "", reached

    return rule
