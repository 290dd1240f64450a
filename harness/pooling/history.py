"""`harness history`: each like-for-like ratio over the runs of one machine and spec, its steps.

A series is one ratio (contender vs its reference, whole run or per epoch) on one machine
fingerprint and one spec: runs of other machines or specs never enter it. Its points are the
runs in order of project commit time, then start time, each with its ratio and 95 % CI.

Change points, two stages:

1. Candidates from ruptures (KernelCPD, linear kernel: the exact penalised least-squares
   segmentation of the log-ratios, PELT in C). Penalty: `penalty * sigma^2 * ln n`, sigma the
   run-to-run noise estimated robustly from successive differences (MAD / 0.6745 / sqrt 2, so a
   step barely moves it): the BIC-type penalty of a mean-shift model with unknown noise.
2. Each candidate is confirmed or rejected by a paired-interval comparison of the runs on
   either side (at most `window` runs each side, never past the neighbouring change points).
   Every run's ratio is paired already (contender and reference measured side by side), so
   machine drift cancels within a run; the comparison is on the runs' mean log-ratios:
     - both sides >= 2 runs: Welch's t-interval on the difference of means (the run-to-run
       spread is the noise, so pooling every pair of every run would be too narrow);
     - one side a single run: its distance from the other side's mean, against the other
       side's spread as a prediction interval (se = s * sqrt(1 + 1/n), n - 1 df);
     - one run each side: the two runs' own CIs (se from each CI's half-width), as `compare`.
   Confirmed when the interval excludes 0 *and* the change exceeds `threshold`, what two runs
   of identical code differ by (the A/A check, CompareConfig's 3 %). A one-run segment that is
   not the newest run is an outlier, not a step: rejected as such.

The newest run is a regression when a confirmed change point starts at it and the ratio fell
(the contender got slower relative to its reference); `--fail-on-regression` exits 1 then.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class HistoryConfig:
    """What counts as a step."""

    alpha: float = 0.05  # the confirming interval is a (1 - alpha) interval
    threshold: float = 0.03  # |change| at or below this is A/A noise (CompareConfig.threshold)
    penalty: float = 6.0  # candidates' penalty: penalty * sigma^2 * ln(n), sigma run-to-run
    window: int = 10  # runs compared on each side of a candidate, at most
    min_sigma: float = 0.002  # floor of the noise estimate (identical ratios: no zero penalty)


@dataclass(frozen=True)
class Point:
    """One run's ratio in a series."""

    ratio: float
    ci_low: float | None
    ci_high: float | None
    n: int  # pairs behind the ratio
    alpha: float = 0.05  # the level of that CI


@dataclass(frozen=True)
class Step:
    """A candidate change point at run `index` (the first run after the change)."""

    index: int
    before: float  # geometric mean ratio of the runs compared before it
    after: float
    change: float  # after / before - 1 (< 0: the contender got slower vs its reference)
    ci_low: float | None  # of the change, relative
    ci_high: float | None
    runs_before: int
    runs_after: int
    confirmed: bool
    reason: str  # code: confirmed, interval_holds_zero, within_threshold, outlier, too_few


@dataclass
class SeriesResult:
    """Change points of one series and the segment means between them."""

    steps: list[Step] = field(default_factory=list)
    segments: list[tuple[int, int, float]] = field(default_factory=list)  # start, end, mean
    sigma: float | None = None

    @property
    def newest_regression(self) -> Step | None:
        """The confirmed step for the worse that starts at the newest run, if any."""
        if not self.segments:
            return None
        last = self.segments[-1][1] - 1
        return next(
            (s for s in self.steps if s.index == last and s.confirmed and s.change < 0), None
        )


def noise_sigma(logs: np.ndarray, cfg: HistoryConfig) -> float:
    """Run-to-run noise of the log-ratios from successive differences (robust to steps)."""
    if logs.size < 3:
        return cfg.min_sigma
    mad = float(np.median(np.abs(np.diff(logs) - np.median(np.diff(logs)))))
    return max(mad / 0.6745 / math.sqrt(2.0), cfg.min_sigma)


def candidates(logs: np.ndarray, sigma: float, cfg: HistoryConfig) -> list[int]:
    """Indexes where a new segment starts, from ruptures' penalised segmentation."""
    if logs.size < 3:
        return []
    import ruptures

    pen = cfg.penalty * sigma**2 * math.log(logs.size)
    algo = ruptures.KernelCPD(kernel="linear", min_size=1, jump=1).fit(logs.reshape(-1, 1))
    return [int(b) for b in algo.predict(pen=pen)[:-1]]


def _se_of(p: Point) -> float | None:
    """Standard error of one run's mean log-ratio, from its CI's half-width."""
    if p.ci_low is None or p.ci_high is None or p.n < 2 or p.ci_low <= 0:
        return None
    t = float(stats.t.ppf(1 - p.alpha / 2, p.n - 1))
    return (math.log(p.ci_high) - math.log(p.ci_low)) / (2 * t)


def compare_sides(
    before: list[Point], after: list[Point], cfg: HistoryConfig
) -> tuple[float, float | None, float | None]:
    """(mean log difference after - before, its CI low, high) by the module's rule."""
    a = np.log([p.ratio for p in before])
    b = np.log([p.ratio for p in after])
    diff = float(b.mean() - a.mean())
    q = 1 - cfg.alpha / 2
    if a.size >= 2 and b.size >= 2:
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        se = math.sqrt(va + vb)
        den = (va**2 / (a.size - 1) if va else 0.0) + (vb**2 / (b.size - 1) if vb else 0.0)
        df = (va + vb) ** 2 / den if den else float(a.size + b.size - 2)
    elif a.size >= 2 or b.size >= 2:
        many = a if a.size >= 2 else b
        se = float(many.std(ddof=1)) * math.sqrt(1 + 1 / many.size)
        df = float(many.size - 1)
    else:
        ses = [_se_of(before[0]), _se_of(after[0])]
        if None in ses:
            return diff, None, None
        se = math.sqrt(sum(s * s for s in ses))  # type: ignore[misc]
        df = float(max(min(before[0].n, after[0].n) - 1, 1))
    half = float(stats.t.ppf(q, df)) * se
    return diff, diff - half, diff + half


def judge(points: list[Point], start: int, k: int, end: int, cfg: HistoryConfig) -> Step:
    """The candidate at k, its neighbours' change points at start and end, judged."""
    before = points[max(start, k - cfg.window) : k]
    after = points[k : min(end, k + cfg.window)]
    diff, low, high = compare_sides(before, after, cfg)
    a = math.exp(float(np.mean(np.log([p.ratio for p in before]))))
    b = math.exp(float(np.mean(np.log([p.ratio for p in after]))))
    change = math.exp(diff) - 1
    if (len(after) == 1 and k != len(points) - 1) or (len(before) == 1 and start > 0):
        reason = "outlier"
    elif low is None or high is None:
        reason = "too_few"
    elif low <= 0 <= high:
        reason = "interval_holds_zero"
    elif abs(change) <= cfg.threshold:
        reason = "within_threshold"
    else:
        reason = "confirmed"
    return Step(
        index=k,
        before=a,
        after=b,
        change=change,
        ci_low=math.exp(low) - 1 if low is not None else None,
        ci_high=math.exp(high) - 1 if high is not None else None,
        runs_before=len(before),
        runs_after=len(after),
        confirmed=reason == "confirmed",
        reason=reason,
    )


def analyse(points: list[Point], cfg: HistoryConfig | None = None) -> SeriesResult:
    """Candidates, each judged, and the segments' geometric means (confirmed steps only)."""
    cfg = cfg or HistoryConfig()
    if not points:
        return SeriesResult()
    logs = np.log(np.array([p.ratio for p in points], dtype=float))
    sigma = noise_sigma(logs, cfg)
    cuts = candidates(logs, sigma, cfg)
    bounds = [0, *cuts, len(points)]
    steps = [
        judge(points, bounds[i - 1], bounds[i], bounds[i + 1], cfg)
        for i in range(1, len(bounds) - 1)
    ]
    edges = [0, *[s.index for s in steps if s.confirmed], len(points)]
    segments = [
        (lo, hi, math.exp(float(logs[lo:hi].mean()))) for lo, hi in itertools.pairwise(edges)
    ]
    return SeriesResult(steps=steps, segments=segments, sigma=sigma if len(points) >= 3 else None)
