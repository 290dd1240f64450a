"""The derived stages (ingest -> analyze -> plot), their files, and `rebuild`, like make.

This table is the one list of stages: each names the function that runs it, the files it reads
and writes (globs relative to the results folder), and is run by `rebuild` in order. The
report is rendered after them, every time.

Each derived stage is a pure function of files in the folder and of the harness code. After a
stage runs, stages.json records a sha256 of what it read (its input files, the harness's own
Python source, the Python and library versions) and of what it wrote. `report DIR` skips a
stage while both digests still match, so re-rendering an unchanged folder costs only the
report; an edited, added or removed input or output, or a harness or library upgrade, makes the
stage run again; `--recompute` ignores the records. The dataset files named by spec.json live
outside the folder and are not hashed.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness.analysis import analyze, ingest
from harness.errors import HarnessError
from harness.model.folder import Folder
from harness.model.records import read_json, write_json
from harness.presentation import plot, report

STAGES_FILE = "stages.json"


@dataclass(frozen=True)
class Stage:
    """One derived stage: the function that runs it (run_dir -> warnings) and its files."""

    name: str
    function: Callable[[Folder], list[str] | None]
    writes: str  # what it writes, in words, for the progress line
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def run(self, folder: Folder) -> list[str]:
        """Run the stage on a results folder; its warnings."""
        return self.function(folder) or []


_METRICS = "metrics/**/*.jsonl"
_TABLES = tuple(f"tables/{t}.csv" for t in ("contenders", "runs", "epochs", "evaluator"))
_RAW_TIMES = ("hyperfine.json", "hyperfine-json/*", "hyperfine/*", "measure.jsonl")
STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        ingest.ingest,
        "tables/*.csv",
        ("run.json", "outcome.json", "spec.json", *_RAW_TIMES, _METRICS, "models/*/*"),
        (*_TABLES, "ingest.json"),
    ),
    Stage(
        "analyze",
        analyze.analyze,
        "analysis.json, tables/summary.csv",
        ("run.json", "outcome.json", "spec.json", "env.json", "parity.json", _METRICS, *_TABLES),
        ("analysis.json", "tables/summary.csv"),
    ),
    Stage("plot", plot.plot, "plots/", ("analysis.json", "tables/epochs.csv"), ("plots/*",)),
)
# Code and libraries whose change can change what a stage writes.
_CODE = ("harness/*.py", "harness/*/*.py")
_LIBRARIES = ("numpy", "pandas", "scipy", "matplotlib", "safetensors")


def rebuild(
    run_dir: Path, log: Callable[[str], None], first_stage: int = 1, recompute: bool = False
) -> Path:
    """Run the derived stages that are out of date, then render the report; its path.

    One Folder goes from stage to stage: each JSON file is read once, and analyze hands its
    Analysis to plot and the report in memory."""
    folder = Folder(run_dir)
    total = first_stage + len(STAGES)  # the progress lines count `run`'s stages before these
    for n, stage in enumerate(STAGES, start=first_stage):
        if stage.name == "ingest" and not (run_dir / "run.json").exists():
            continue  # tables without the raw files they came from: use them as they are
        inputs = _digest(run_dir, stage.inputs, _code_digest())
        if not recompute and _records(run_dir).get(stage.name) == _record(run_dir, stage, inputs):
            log(f"[{n}/{total}] {stage.name}: {stage.writes} up to date")
            continue
        warnings = stage.run(folder)
        records = _records(run_dir)
        records[stage.name] = _record(run_dir, stage, inputs)
        write_json(run_dir / STAGES_FILE, records)
        noted = f" ({len(warnings)} warnings)" if warnings else ""
        log(f"[{n}/{total}] {stage.name}: {stage.writes}{noted}")
        for warning in warnings:
            log(f"  warning: {warning}")
    path = report.render(folder)
    log(f"[{total}/{total}] report: report.html, summary.md")
    return path


def _feed_files(digest: Any, root: Path, patterns: tuple[str, ...]) -> None:
    """Feed the relative names and contents of the files matching patterns into digest."""
    paths = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with path.open("rb") as stream:
            digest.update(hashlib.file_digest(stream, "sha256").digest())


@functools.cache
def _code_digest() -> bytes:
    """sha256 of the harness source, the Python and the library versions."""
    digest = hashlib.sha256(sys.version.encode())
    _feed_files(digest, Path(__file__).resolve().parents[1], _CODE)
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}=={version(name)}".encode())
        except PackageNotFoundError:
            digest.update(f"{name} missing".encode())
    return digest.digest()


def _digest(run_dir: Path, patterns: tuple[str, ...], seed: bytes = b"") -> str:
    digest = hashlib.sha256(seed)
    _feed_files(digest, run_dir, patterns)
    return digest.hexdigest()


def _record(run_dir: Path, stage: Stage, inputs: str) -> dict[str, str]:
    """A stage's entry in stages.json: these inputs and its outputs as they are now."""
    return {"inputs_sha256": inputs, "outputs_sha256": _digest(run_dir, stage.outputs)}


def _records(run_dir: Path) -> dict[str, Any]:
    """stages.json without its schema_version; empty when absent or unreadable."""
    try:
        records = read_json(run_dir / STAGES_FILE)
    except HarnessError:
        return {}
    records.pop("schema_version", None)
    return records
