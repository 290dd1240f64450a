"""analysis.json's evidence sections, typed: the target sweep, fairness (spec hashes, parity,
epochs per seed, the evaluator), thread scaling, the 2x2 grid and the kernel x language
decomposition. harness.model.analysis holds the rest of the file and the `Analysis` that
gathers these; the same strict codec (harness.model.codec) reads both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.model.codec import optional


@dataclass(frozen=True)
class RatioTest:
    """A speed-up t_ref / t_other (> 1: the other is faster) with its CI, p-value and verdict;
    harness.analysis.stats computes it, analysis.json stores it."""

    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str | None  # faster, slower, equivalent, inconclusive; None without data
    n: int  # pairs (paired), else the smaller sample
    paired: bool


@dataclass(frozen=True)
class SweepRow:
    """Time to one lower target of one contender (harness.analysis.analyze.target_sweep)."""

    contender: str
    target: float
    median_seconds: float | None
    median_epochs: float | None
    reached_fraction: float | None


@dataclass(frozen=True)
class TargetSweep:
    """The targets of the time-to-target sweep and each contender's rows."""

    targets: list[float]
    rows: list[SweepRow]


@dataclass(frozen=True)
class SpecHashes:
    """The spec's sha256 from spec.json, run.json and each contender's start events."""

    spec_file: str | None
    declared: str | None
    by_contender: dict[str, list[str]]  # contender name -> the hashes it reported
    consistent: bool


@dataclass(frozen=True)
class ParityRow:
    """One tensor of one parity pair (harness.analysis.fairness.parity)."""

    a: str | None
    b: str | None
    tensor: str | None
    max_abs: float | None
    max_rel: float | None
    ok: bool
    note: str


@dataclass(frozen=True)
class Parity:
    """parity.json's verdict, flattened."""

    status: str
    steps: int | None
    # parity.json's tolerance as verify wrote it (rule, abs, rel, ...): copied, never read by
    # field, and its keys follow the tolerance rule, so it stays free-form
    tolerance: dict[str, Any]
    rows: list[ParityRow]


@dataclass(frozen=True)
class MismatchCause:
    """Why a seed's epoch counts differ: rounding, trajectory or no_epoch_log."""

    low: int
    high: int
    target: float | None
    code: str
    accuracy: float | None = optional()
    epoch: int | None = optional()


@dataclass(frozen=True)
class SeedEpochs:
    """One seed's epochs to target per contender, and the likely cause of a mismatch."""

    seed: str
    epochs: dict[str, list[int]]  # contender name -> its distinct epoch counts
    mismatch: bool
    cause: MismatchCause | None = optional()  # noqa: RUF009 (a dataclasses.field)


@dataclass(frozen=True)
class EvaluatorCheck:
    """The referee's count of one saved model against the contender's claim (evaluator.csv)."""

    contender: str
    seed: str
    run_id: str
    model: str
    claimed_status: str
    claimed_test_correct: float | None  # counts: ints, floats where the column has gaps
    evaluator_test_correct: float | None
    test_samples: float | None
    claimed_reached_target: bool
    evaluator_reached_target: bool | None
    agrees: bool | None
    note: str


@dataclass(frozen=True)
class Fairness:
    """The fairness evidence (harness.analysis.fairness)."""

    spec_sha256: SpecHashes
    parity: Parity
    seeds: list[SeedEpochs]
    evaluator: list[EvaluatorCheck]


@dataclass(frozen=True)
class ScalingPoint:
    threads: int
    median: float | None


@dataclass(frozen=True)
class ThreadScaling:
    """One implementation and algorithm at several thread counts: median wall times."""

    implementation: str
    algorithm: str
    points: list[ScalingPoint]


@dataclass(frozen=True)
class GridCell:
    """One cell of a 2x2: a contender's median times."""

    language: str
    approach: str
    contender: str
    status: str
    wall_median: float | None
    seconds_per_epoch_median: float | None
    successes: int


@dataclass(frozen=True, kw_only=True)
class GridRatio:
    """A ratio of the 2x2: languages at one approach (approach set), or framework vs
    from-scratch in one language (approach absent)."""

    language: str
    approach: str | None = optional()
    contender: str
    reference: str
    pairing: str
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str | None
    n: int
    per_epoch: RatioTest | None


@dataclass(frozen=True)
class Grid:
    """One language x approach 2x2 at one thread count (harness.analysis.grid)."""

    threads: int | None
    languages: list[str]
    approaches: list[str]
    cells: list[GridCell]
    language_ratios: list[GridRatio]
    library_ratios: list[GridRatio]


@dataclass(frozen=True)
class Factors:
    """total = language x kernel, as paired log-mean tests (harness.analysis.decompose)."""

    total: RatioTest
    language: RatioTest
    kernel: RatioTest
    n: int


@dataclass(frozen=True)
class Decomposition:
    """The reference, the twin and its native at one thread count, and the factors."""

    threads: int | None
    reference: str
    twin: str
    native: str
    whole: Factors | None
    whole_pairing: str
    per_epoch: Factors | None
    per_epoch_pairing: str
    withheld: list[str]  # the twin's or native's verdicts that keep it from standing
