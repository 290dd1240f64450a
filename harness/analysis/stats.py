"""Statistics of timings: pure functions of numpy arrays, no files, no words.

The one comparison statistic (every consumer uses `ratio_test`: the headline, summary.csv, the
per-epoch ratio, the per-seed ratios and `harness compare`):

    per pair i (two runs that ran close in time: same seed and round)
        d_i   = ln(t_ref,i / t_other,i)             the log of the speed-up in that pair
    ratio     = exp(mean d)                         the geometric mean of the paired ratios
    95 % CI   = exp(mean d -/+ t_{0.975, n-1} * sd(d) / sqrt(n))     a t-interval on mean d
    p         = 2 * P(T_{n-1} > |mean d| / (sd(d) / sqrt(n)))        the paired t-test on d

Why logs: times are positive and their noise is multiplicative (a slow spell stretches a run by
a factor), so log-ratios are close to symmetric and a ratio and its inverse get mirrored CIs.
Why a t-interval and not a bootstrap: with the 3-20 pairs a benchmark affords, percentile and
BCa bootstrap intervals are too narrow (they cannot reach beyond the observed extremes and
their coverage falls well below 95 % at n < 20); the t-interval on a mean of near-symmetric
log-ratios keeps its coverage there. Why the mean and not the median of d: the CI and the test
are on the mean, so the point estimate is too (one statistic, never inside-out).

Without a pairing (hyperfine-only input, no seeds) the two samples are independent: the same
formulas on ln(t) with Welch's standard error and degrees of freedom (ratio = the ratio of the
geometric means).

The verdict follows from the CI alone, so the words can never contradict the numbers:
    faster        CI entirely above 1 (exactly when the t-test rejects at alpha = 1 - level)
    slower        CI entirely below 1
    equivalent    CI holds 1 and lies within the equivalence band (0.95-1.05 by default)
    inconclusive  CI holds 1 but reaches outside the band, or fewer than 2 pairs (no CI)

The median's CI is distribution-free: the order statistics whose binomial coverage reaches the
level (scipy.stats.quantile_test); with fewer than 6 values no such interval exists (None).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from harness.model.evidence import RatioTest


@dataclass(frozen=True)
class StatsConfig:
    """Knobs of the statistics (defaults follow common benchmarking practice)."""

    alpha: float = 0.05  # the CIs are (1 - alpha) intervals; the tests reject at alpha
    equivalence_low: float = 0.95  # a CI within [low, high] that holds 1 means "equivalent"
    equivalence_high: float = 1.05
    unstable_cv: float = 0.10  # pyperf-style note when stddev >= 10 % of the mean
    iqr_factor: float = 1.5  # Tukey fences for outliers: beyond 1.5 IQR from the quartiles
    min_runs: int = 10  # fewer timed runs than this gives a "few runs" note

    @property
    def confidence(self) -> float:
        """The CI level, tied to alpha so the CI and the test always agree."""
        return 1.0 - self.alpha


def finite(values: Any) -> np.ndarray:
    """The finite values of a sequence as a float array (None, NaN, inf and text dropped)."""
    arr = np.asarray(
        [v if isinstance(v, int | float | np.number) else np.nan for v in values], dtype=float
    )
    return arr[np.isfinite(arr)]


def number(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def median(values: Any) -> float | None:
    """Median of the finite values, None when there are none."""
    arr = finite(values)
    return float(np.median(arr)) if arr.size else None


def median_ci(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """Distribution-free CI of the median from order statistics; (None, None) below 6 values."""
    if values.size < 2:
        return (None, None)
    ci = stats.quantile_test(values, q=float(np.median(values)), p=0.5).confidence_interval(
        confidence
    )
    return (number(ci.low), number(ci.high))


def describe(values: np.ndarray, confidence: float) -> dict[str, float | int | None]:
    """n, median (with its CI), mean, stddev (ddof 1), min, max of a sample."""
    if values.size == 0:
        keys = ("median", "ci_low", "ci_high", "mean", "stddev", "min", "max")
        return {"n": 0, **dict.fromkeys(keys)}
    low, high = median_ci(values, confidence)
    return {
        "n": int(values.size),
        "median": float(np.median(values)),
        "ci_low": low,
        "ci_high": high,
        "mean": float(np.mean(values)),
        "stddev": float(np.std(values, ddof=1)) if values.size > 1 else None,
        "min": float(np.min(values)),
        "max": float(np.max(values)),
    }


def instability(values: np.ndarray, cfg: StatsConfig) -> list[dict[str, Any]]:
    """Notes on a sample, as codes with their numbers: few_runs, unstable, outliers."""
    notes: list[dict[str, Any]] = []
    if values.size < cfg.min_runs:
        notes.append({"code": "few_runs", "runs": int(values.size), "minimum": cfg.min_runs})
    if values.size >= 2:
        mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
        if mean > 0 and std >= cfg.unstable_cv * mean:
            notes.append({"code": "unstable", "cv": std / mean, "threshold": cfg.unstable_cv})
        q1, q3 = np.percentile(values, [25, 75])
        fence = cfg.iqr_factor * (q3 - q1)
        outliers = int(np.sum((values < q1 - fence) | (values > q3 + fence)))
        if outliers:
            notes.append({"code": "outliers", "count": outliers, "iqr_factor": cfg.iqr_factor})
    return notes


def verdict(ci_low: float | None, ci_high: float | None, cfg: StatsConfig) -> str:
    """The one rule: faster/slower when the CI excludes 1, else equivalent or inconclusive."""
    if ci_low is None or ci_high is None:
        return "inconclusive"
    if ci_low > 1.0:
        return "faster"
    if ci_high < 1.0:
        return "slower"
    if cfg.equivalence_low <= ci_low and ci_high <= cfg.equivalence_high:
        return "equivalent"
    return "inconclusive"


def _from_log_mean(
    mean: float, se: float, df: float, n: int, paired: bool, cfg: StatsConfig
) -> RatioTest:
    """ratio = exp(mean), CI = exp(mean -/+ t* se), two-sided t-test of mean = 0."""
    if se == 0.0:  # every pair gave the same ratio: the CI is that point
        p = 1.0 if mean == 0.0 else 0.0
        low = high = math.exp(mean)
    else:
        half = float(stats.t.ppf(1.0 - cfg.alpha / 2.0, df)) * se
        low, high = math.exp(mean - half), math.exp(mean + half)
        p = float(2.0 * stats.t.sf(abs(mean) / se, df))
    return RatioTest(math.exp(mean), low, high, p, verdict(low, high, cfg), n, paired)


def _log_positive(values: np.ndarray) -> np.ndarray:
    return np.log(values[np.isfinite(values) & (values > 0)])


def ratio_test(ref: np.ndarray, other: np.ndarray, paired: bool, cfg: StatsConfig) -> RatioTest:
    """Speed-up t_ref / t_other with its CI, p-value and verdict (see the module docstring).

    Paired: ref[i] and other[i] are one pair (pairs with a non-positive or missing time are
    dropped). Independent: two samples of any sizes.
    """
    if paired:
        keep = np.isfinite(ref) & np.isfinite(other) & (ref > 0) & (other > 0)
        return log_mean_test(np.log(ref[keep] / other[keep]), cfg)
    x, y = _log_positive(ref), _log_positive(other)
    return log_difference_test(x, y, cfg, paired=False)


def log_mean_test(d: np.ndarray, cfg: StatsConfig) -> RatioTest:
    """exp(mean d) with the one-sample t-interval: d are paired log-ratios."""
    n = int(d.size)
    if n == 0:
        return RatioTest(None, None, None, None, None, 0, True)
    mean = float(np.mean(d))
    if n < 2:
        return RatioTest(math.exp(mean), None, None, None, verdict(None, None, cfg), 1, True)
    se = float(np.std(d, ddof=1)) / math.sqrt(n)
    return _from_log_mean(mean, se, n - 1, n, True, cfg)


def log_difference_test(
    x: np.ndarray, y: np.ndarray, cfg: StatsConfig, paired: bool = False
) -> RatioTest:
    """exp(mean x - mean y) with Welch's t-interval: x and y are independent samples of logs.

    `harness compare` uses it on two folders' paired log-ratios (the change of a speed-up);
    `paired` only labels the result (the samples within each folder were paired).
    """
    n = int(min(x.size, y.size))
    if n == 0:
        return RatioTest(None, None, None, None, None, 0, paired)
    mean = float(np.mean(x) - np.mean(y))
    if n < 2:
        return RatioTest(math.exp(mean), None, None, None, verdict(None, None, cfg), n, paired)
    vx, vy = float(np.var(x, ddof=1)) / x.size, float(np.var(y, ddof=1)) / y.size
    se = math.sqrt(vx + vy)
    if se == 0.0:
        return _from_log_mean(mean, 0.0, 1.0, n, paired, cfg)
    # Welch-Satterthwaite degrees of freedom (a zero-variance side contributes nothing).
    df = (vx + vy) ** 2 / (
        (vx**2 / (x.size - 1) if vx else 0.0) + (vy**2 / (y.size - 1) if vy else 0.0)
    )
    return _from_log_mean(mean, se, df, n, paired, cfg)


def precision(test: RatioTest | dict[str, Any]) -> float | None:
    """Relative half-width of a ratio's CI: sqrt(high / low) - 1 (0.05 = the ratio +-5 %)."""
    low = test["ci_low"] if isinstance(test, dict) else test.ci_low
    high = test["ci_high"] if isinstance(test, dict) else test.ci_high
    if low is None or high is None or low <= 0:
        return None
    return math.sqrt(high / low) - 1.0


def slow_rounds(times: dict[str, dict[int, float]], factor: float = 1.10) -> list[int]:
    """Rounds in which every contender with data was slower than its own median by > factor.

    times maps contender -> round -> time (e.g. its median over seeds in that round). A round
    is flagged when at least two contenders have data in it and each took more than `factor`
    times its median over all its rounds: the machine was slow, not one contender. Needs at
    least two contenders and three rounds in all, else [].
    """
    rounds = sorted({r for per_round in times.values() for r in per_round})
    if len(times) < 2 or len(rounds) < 3:
        return []
    medians = {name: statistics.median(t.values()) for name, t in times.items() if t}
    flagged = []
    for r in rounds:
        present = [name for name, t in times.items() if r in t]
        if len(present) >= 2 and all(times[n][r] > factor * medians[n] for n in present):
            flagged.append(r)
    return flagged
