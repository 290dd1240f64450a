"""The results folder's CSV tables, typed: one row dataclass, one reader and one writer each.

    tables/contenders.csv  ContenderRow   ingest
    tables/runs.csv        RunRecord      ingest (one row per timed process)
    tables/epochs.csv      EpochRecord    ingest (one row per epoch of a timed process)
    tables/evaluator.csv   EvaluatorRow   ingest (the referee's score of each saved model)
    tables/summary.csv     SummaryRow     analyze

Column order is the dataclass's field order; RESULTS.md documents each column. Rows are written
with the csv module (None as an empty cell); tables are read with pandas, because analyze and
plot compute on frames. Older folders lacking a column read it as empty.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.model.records import no_links


@dataclass(frozen=True)
class ContenderRow:
    contender: str
    implementation: str
    algorithm: str
    threads: int | None
    command: str  # the argv template with {seed}, shell-quoted


@dataclass(frozen=True)
class RunRecord:
    """One timed process: hyperfine's measurement paired with the process's metrics stream."""

    contender: str
    seed: str
    round: int | None  # 1-based measuring round (empty for hyperfine-only input)
    run_index: int  # 0-based among the timed runs of this contender and seed
    started_at: str | None  # UTC ISO 8601: when the harness started this process's hyperfine
    run_id: str | None
    wall_seconds: float
    user_seconds: float | None
    system_seconds: float | None
    max_rss_bytes: float | None
    exit_code: int | None
    status: str  # reached_target, max_epochs, max_steps, diverged, crashed, invalid, no_metrics
    reached_target: bool | None
    epochs: int | None = None
    steps: int | None = None
    test_accuracy: float | None = None
    load_seconds: float | None = None
    train_seconds: float | None = None  # sum of the epochs' train_seconds
    eval_seconds: float | None = None  # sum of the epochs' eval_seconds
    setup_seconds: float | None = None  # inside main, outside load/train/eval (imports, init)
    metrics_wall_seconds: float | None = None  # the end event's wall_seconds
    startup_seconds: float | None = None  # wall - metrics wall: start-up, save and exit
    seconds_per_epoch: float | None = None
    samples_per_second: float | None = None
    problem: str = ""  # why this run is invalid, in words (a stream problem: file:line: ...)
    check: str = ""  # the failed check's code (harness.analysis.integrity); "" when none failed


@dataclass(frozen=True)
class EpochRecord:
    contender: str
    seed: str
    run_index: int
    run_id: str
    epoch: int
    steps: int | None
    train_seconds: float | None
    eval_seconds: float | None
    train_loss: float | None
    test_correct: int | None
    test_accuracy: float | None
    elapsed_seconds: float | None  # start-up + load + set-up + train and eval so far


@dataclass(frozen=True)
class EvaluatorRow:
    """The referee's own count of a saved model's correct test digits vs the contender's."""

    contender: str
    seed: str
    run_id: str
    model: str
    claimed_status: str
    claimed_test_correct: int | None
    evaluator_test_correct: int | None
    test_samples: int | None
    claimed_reached_target: bool
    evaluator_reached_target: bool | None
    agrees: bool | None
    note: str


@dataclass(frozen=True)
class SummaryRow:
    contender: str
    threads: int | None
    status: str
    runs: int
    success_rate: float | None
    median_seconds: float | None
    median_ci_low: float | None
    median_ci_high: float | None
    mean_seconds: float | None
    stddev_seconds: float | None
    min_seconds: float | None
    max_seconds: float | None
    reference: str | None  # the same-thread reference the speed-up is measured against
    speedup_vs_reference: float | None
    speedup_ci_low: float | None
    speedup_ci_high: float | None
    p_value: float | None
    verdict: str | None
    epochs_median: float | None
    seconds_per_epoch_median: float | None
    samples_per_second_median: float | None
    startup_load_seconds: float | None  # outside main (start-up, save, exit) + data load
    setup_seconds: float | None  # inside main, outside load/train/eval
    train_seconds: float | None
    eval_seconds: float | None
    max_rss_mib: float | None
    cpu_seconds: float | None  # median user + system CPU seconds per process (hyperfine)
    cores_used: float | None  # median CPU seconds / wall seconds: how parallel it really ran
    train_gflops: float | None
    sgemm_fraction: float | None


def columns(row_type: type) -> list[str]:
    """The CSV columns of a row type, in order."""
    return [f.name for f in fields(row_type)]


def write_rows(path: Path, row_type: type, rows: list[Any]) -> None:
    """Write rows of row_type as CSV (header always), via a temporary file and rename."""
    no_links(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns(row_type))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
        os.replace(tmp, path)
    except OSError as exc:  # a full disk: the table named, nothing half-written left
        tmp.unlink(missing_ok=True)
        raise HarnessError(f"{path}: cannot write: {exc.strerror}") from exc


TEXT_COLUMNS = ("contender", "seed", "run_id", "status", "started_at", "problem", "check", "note")


def read_table(path: Path, row_type: type, required: bool = False) -> pd.DataFrame | None:
    """A table as a frame with every column of row_type (missing ones empty); None if absent."""
    if not path.is_file():
        if required:
            raise HarnessError(
                f"{path}: not found; `python -m harness report DIR --recompute` "
                "rebuilds the tables from the raw files"
            )
        return None
    text_columns = {c: str for c in TEXT_COLUMNS}
    try:
        frame = pd.read_csv(path, dtype=text_columns, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: not a readable CSV table ({exc})") from exc
    if "contender" not in frame:
        raise HarnessError(f"{path}: missing column 'contender'")
    for column in columns(row_type):
        if column not in frame:
            frame[column] = pd.NA if column not in TEXT_COLUMNS else ""
    for column in TEXT_COLUMNS:
        if column in frame:
            frame[column] = frame[column].fillna("").astype(str)
    return frame


def read_runs(run_dir: Path) -> pd.DataFrame:
    """tables/runs.csv, which must exist; numeric columns as numbers, status never empty."""
    path = run_dir / "tables" / "runs.csv"
    frame = read_table(path, RunRecord, required=True)
    assert frame is not None
    numeric = [c for c in columns(RunRecord) if c not in TEXT_COLUMNS and c != "reached_target"]
    for column in numeric:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["status"] = frame["status"].where(frame["status"] != "", "no_metrics")
    return frame
