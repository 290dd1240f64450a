"""analysis.json, typed: the `Analysis` the analyze stage returns and writes, and every later
stage (plot, report, compare, merge, store) reads.

Numbers, names and codes only; the words are the report's. Each class is one JSON object of
the file, its fields in the file's order. `Analysis.from_dict` is strict (harness.model.codec):
a key this model lacks is an error naming the file and the field, so a field analyze starts
writing without a place here fails analyze itself (it validates what it writes) and the tests.
`to_dict` gives back the same JSON. A field made with `optional()` may be absent from a file
(notes carry only their code's numbers); it then reads as None. The evidence sections (target
sweep, fairness, thread scaling, grid, decomposition) are typed in harness.model.evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.model import codec
from harness.model.codec import optional
from harness.model.evidence import (
    Decomposition,
    Fairness,
    Grid,
    RatioTest,
    TargetSweep,
    ThreadScaling,
)
from harness.model.records import SCHEMA_VERSION, Failure, no_links, read_json


@dataclass(frozen=True)
class Config:
    """The analysis knobs it ran with (harness.analysis.analyze.AnalysisConfig, as asdict)."""

    spread: float
    slower_margin: float
    floor_high: float
    floor_low: float
    unreliable_share: float
    alpha: float
    equivalence_low: float
    equivalence_high: float
    unstable_cv: float
    iqr_factor: float
    min_runs: int
    sweep_steps: int
    sweep_span: float
    rounding_margin: float
    busy_share: float
    slow_round_factor: float


@dataclass(frozen=True)
class Stats:
    """A sample's description (harness.analysis.stats.describe); n 0: every number None."""

    n: int
    median: float | None
    ci_low: float | None
    ci_high: float | None
    mean: float | None
    stddev: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True)
class Split:
    """The parts of a wall time, seconds (harness.analysis.pairing.PARTS, and their total)."""

    outside: float
    load: float
    setup: float
    train: float
    eval: float
    total: float

    def __getitem__(self, part: str) -> float:
        """One part by its name (`split["train"]`), as harness.analysis.pairing.PARTS names it."""
        return float(getattr(self, part))


@dataclass(frozen=True)
class Note:
    """A code with its numbers: a statistics warning, an integrity reason or why a reference
    cannot carry a verdict. Which fields a code carries is the producer's (stats.instability,
    reliability.integrity, reliability.reference_health); the others are absent."""

    code: str
    detail: str | None = optional()
    runs: int | None = optional()
    minimum: int | None = optional()
    cv: float | None = optional()
    threshold: float | None = optional()
    count: int | None = optional()
    iqr_factor: float | None = optional()
    seed: str | None = optional()
    other: str | None = optional()
    factor: float | None = optional()
    share: float | None = optional()
    limit: float | None = optional()
    fraction: float | None = optional()
    threads: int | None = optional()


@dataclass(frozen=True)
class Integrity:
    """Whether a contender's runs are vouched for: ok, not_comparable or invalid, and why."""

    status: str
    reasons: list[Note]


@dataclass(frozen=True)
class InvalidRun:
    """A run left out of the statistics, with its metrics stream problem."""

    seed: str
    round: float | None  # runs.csv's column: an int, a float where the column has gaps
    run_index: float | None
    problem: str


@dataclass(frozen=True)
class ContenderSummary:
    """One contender's statistics (harness.analysis.analyze.summarize)."""

    name: str
    implementation: str | None
    algorithm: str | None
    threads: int | None
    language: str | None
    approach: str | None
    status: str
    runs: int
    valid_runs: int
    successes: int
    success_rate: float | None
    wall: Stats
    wall_samples: list[float]
    seconds_per_epoch: Stats
    user_median: float | None
    system_median: float | None
    cpu_median: float | None
    cores_used_median: float | None
    max_rss_mib: float | None
    split: Split | None
    startup_load: float | None
    eval_share: float | None
    epochs_median: float | None
    samples_per_second_median: float | None
    train_gflops: float | None
    sgemm_fraction: float | None
    exit_codes: list[int]
    failures: list[Failure]
    invalid: list[InvalidRun]
    warnings: list[Note]
    integrity: Integrity


@dataclass(frozen=True)
class SeedRatio:
    """The speed-up within one seed."""

    seed: str
    ratio: float | None


@dataclass(frozen=True)
class Comparison:
    """One contender against one reference (harness.analysis.pairing.compare_pair)."""

    contender: str
    reference: str
    pairing: str
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str | None
    n: int
    paired: bool
    per_epoch: RatioTest | None
    per_seed: list[SeedRatio]
    saved: Split | None  # the reference's parts minus the contender's


@dataclass(frozen=True)
class Judged(Comparison):
    """A like-for-like comparison after harness.analysis.reliability.judge: `verdict` stands
    only on vouched-for runs and a sound reference; the statistics' own is kept."""

    statistical_verdict: str | None = None
    reference_health: list[Note] = field(default_factory=list)


@dataclass(frozen=True)
class Floor:
    """The BLAS the sgemm floor was measured with and its rate per thread count."""

    blas: str | None
    sgemm_gflops: dict[str, float] | None  # thread count (as text) -> GFLOP/s


@dataclass(frozen=True)
class BusyProcess:
    """Another process that used CPU while measuring (harness.measurement.noise), copied from
    outcome.json, where an older or hand-made file may lack a number (then absent here too)."""

    pid: int | None = optional()
    name: str | None = optional()
    cpu_seconds: float | None = optional()
    share: float | None = optional()


@dataclass(frozen=True)
class Noise:
    """The machine while measuring (outcome.json) and the rounds where everyone was slow."""

    other_share: float | None
    busy: bool
    busy_threshold: float
    busiest: list[BusyProcess]
    load_before: list[float] | None
    load_after: list[float] | None
    governor: str | None
    note: str | None
    slow_rounds: list[int]
    slow_round_factor: float


@dataclass(frozen=True)
class Measuring:
    """How measuring ended: rounds done and asked, why it stopped, the precision reached."""

    interrupted: bool
    stop_reason: str
    rounds_done: int
    rounds_requested: int
    precision_target: float | None
    precision_reached: float | None


@dataclass(frozen=True)
class Analysis:
    """analysis.json (without its schema_version, which the writer adds)."""

    config: Config
    reference: str | None
    target: float | None
    dataset: str | None
    has_metrics: bool
    environment_present: bool
    contenders: list[ContenderSummary]
    comparisons: list[Judged]
    cross_thread: list[Comparison]
    headline: str | None
    target_sweep: TargetSweep
    fairness: Fairness
    thread_scaling: list[ThreadScaling]
    grid: list[Grid]
    decomposition: list[Decomposition]
    floor: Floor
    noise: Noise
    measuring: Measuring

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "analysis.json") -> Analysis:
        """The Analysis in a JSON object; HarnessError naming source and field on a key this
        model lacks, a missing key or a value of the wrong kind."""
        return codec.decode(cls, data, source)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object from_dict read (keys in the file's order)."""
        return codec.encode(self)

    def contender(self, name: str) -> ContenderSummary | None:
        """The summary of the contender `name`, None when there is none."""
        return next((s for s in self.contenders if s.name == name), None)

    def comparison(self, name: str) -> Judged | None:
        """The like-for-like comparison of the contender `name`, None when there is none."""
        return next((c for c in self.comparisons if c.contender == name), None)


def write_analysis(run_dir: Path, analysis: Analysis) -> None:
    """Write analysis.json: strict JSON (no NaN), numbers and names only, checked against the
    model first (a field the model lacks fails here, not in a later reader)."""
    data = analysis.to_dict()
    Analysis.from_dict(data, str(run_dir / "analysis.json"))
    payload = {"schema_version": SCHEMA_VERSION, **data}
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    no_links(run_dir / "analysis.json").write_text(text, encoding="utf-8")


def read_analysis(run_dir: Path) -> Analysis:
    """Read analysis.json, written by this harness's analyze stage."""
    path = run_dir / "analysis.json"
    if not path.is_file():
        raise HarnessError(
            f"{path}: not found; `python -m harness report {run_dir}` runs the stages before "
            "the report"
        )
    data = read_json(path, check_schema=False)
    if data.pop("schema_version", None) != SCHEMA_VERSION:
        raise HarnessError(
            f"{path}: written by another harness version; `python -m harness report {run_dir} "
            "--recompute` rebuilds it"
        )
    return Analysis.from_dict(data, str(path))
