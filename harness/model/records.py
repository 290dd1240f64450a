"""The results folder's JSON files, typed: one reader and one writer per file.

    run.json       Manifest   what was asked (prepare writes it once; nothing rewrites it)
    outcome.json   Outcome    what happened (measure writes it; interrupted runs too)

analysis.json (numbers only: analyze writes it, the report turns it into words) has its own
module, harness.model.analysis (`Analysis`, read_analysis, write_analysis); the metrics stream
has its (stream), the CSV tables theirs (tables).
Every file carries `schema_version`. Folders written before outcome.json existed (schema 1:
outcomes, start/finish times and parity status inside run.json) still load: their Outcome is
read from run.json. A newer schema than this harness knows gives one line saying so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

# 2: outcome.json split from run.json; rounds and started_at in runs.csv.
# 3: every timed process has its own metrics file and model (named in measure.jsonl), a nonce,
#    CPUs, a timeout and the leftovers count; runs.csv gains `check`.
SCHEMA_VERSION = 3
READABLE = (1, 2, 3)  # schema versions this harness reads


def now_iso() -> str:
    """The current time in UTC, ISO 8601, to the millisecond (`2026-12-02T00:26:56.123+00:00`)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------- plain JSON files


def no_links(path: Path) -> Path:
    """path, when neither it nor its folder is a symbolic link; else HarnessError.

    Every file the harness writes lies in the results folder or one folder below it
    (tables/, plots/, hyperfine-json/), so refusing a link at those two levels keeps every
    write, replace and delete inside the folder (`report DIR` resolves DIR itself first).
    """
    for p in (path, path.parent):
        if p.is_symlink():
            raise HarnessError(
                f"{p}: a symbolic link inside the results folder; the harness does not write "
                "through links (replace it with a real file or folder)"
            )
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write data (plus schema_version) as indented JSON, via a temporary file and rename."""
    no_links(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"schema_version": SCHEMA_VERSION, **data}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HarnessError(f"{path}: cannot write: {exc.strerror}") from exc


def read_json(path: Path, check_schema: bool = True) -> dict[str, Any]:
    """Read a JSON object file; HarnessError naming the file on any problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise HarnessError(f"{path}: not found") from exc
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise HarnessError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise HarnessError(f"{path}: not a readable JSON document ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a JSON object at the top level")
    if check_schema and data.get("schema_version") not in READABLE:
        raise HarnessError(
            f"{path}: schema_version {json.dumps(data.get('schema_version'))} is not one this "
            f"harness reads ({', '.join(map(str, READABLE))}); use the harness version that "
            "wrote the folder"
        )
    return data


def read_optional_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file that may be absent (None) and may lack schema_version."""
    return read_json(path, check_schema=False) if path.is_file() else None


class _Fields:
    """Typed access to one JSON object's keys, naming file and key in every error."""

    def __init__(self, data: dict[str, Any], path: Path) -> None:
        self.data, self.path = data, path

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        """data[key] of the given type; `default` when absent (required when not given)."""
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise HarnessError(f"{self.path}: missing key {key!r}")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            names = " or ".join(k.__name__ for k in _kinds(kind))
            raise HarnessError(f"{self.path}: {key}: expected {names}, got {json.dumps(value)}")
        return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


# ---------------------------------------------------------------- run.json: the manifest


@dataclass(frozen=True)
class ContenderEntry:
    """One contender as configured: argv holds `{seed}` where the seed goes.

    A hyperfine-only folder knows just a name and a command string (argv is then a str).
    """

    name: str
    argv: list[str] | str
    implementation: str = ""
    algorithm: str = ""
    threads: int | None = None
    language: str | None = None  # the 2x2's row (harness.analysis.grid); None: not in the 2x2
    approach: str | None = None  # the 2x2's column: from-scratch or framework


@dataclass(frozen=True)
class Manifest:
    """run.json: what `harness run` (or `report --hyperfine-json`) was asked to do."""

    contenders: list[ContenderEntry]
    reference: str | None
    command_line: list[str] | str  # the harness command that made the folder
    dataset: dict[str, Any] | None = None
    target: float | None = None
    spec_sha256: str | None = None
    max_epochs: int | None = None
    seeds: list[int] = field(default_factory=list)
    runs: int = 0  # timed rounds requested (each round runs every contender and seed once)
    warmup: int = 0  # untimed runs per (contender, seed) before the rounds
    notes: list[str] = field(default_factory=list)
    hyperfine: dict[str, Any] = field(default_factory=dict)  # path, version
    parity_steps: int | None = None  # None: parity skipped
    hyperfine_exports: list[str] | None = None  # set for a folder made from hyperfine exports
    shuffle_seed: int | None = None  # seed of the per-round order (recorded, reproducible)
    cpus: list[int] | None = None  # CPUs the contenders were pinned to
    precision: float | None = None  # target half-width of the ratio CIs, relative
    max_time: float | None = None  # time budget of measuring, seconds
    floor: dict[str, Any] = field(default_factory=dict)  # sgemm rates and FLOPs (prepare)
    timeout: float | None = None  # --timeout: seconds per process (None: derived, measure)
    contenders_files: list[dict[str, Any]] = field(default_factory=list)  # path, sha256, names


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    """Write run.json."""
    write_json(run_dir / "run.json", asdict(manifest))


def read_manifest(run_dir: Path) -> Manifest:
    """Read run.json (schema 1 or 2); HarnessError naming the key on a malformed file."""
    path = run_dir / "run.json"
    f = _Fields(read_json(path), path)
    entries = []
    for i, raw in enumerate(f.get("contenders", list)):
        c = _Fields(raw if isinstance(raw, dict) else {}, Path(f"{path}: contenders[{i}]"))
        entries.append(
            ContenderEntry(
                name=str(c.get("name", (str, int))),
                argv=c.get("argv", (list, str)),
                implementation=c.get("implementation", str, ""),
                algorithm=c.get("algorithm", str, ""),
                threads=c.get("threads", int, None),
                language=c.get("language", str, None),
                approach=c.get("approach", str, None),
            )
        )
    parity = f.get("parity", dict, {})
    legacy_steps = parity.get("steps") if parity.get("status") != "skipped" else None
    return Manifest(
        contenders=entries,
        reference=f.get("reference", str, None),
        command_line=f.get("command_line", (list, str), None) or f.get("command", (list, str), ""),
        dataset=f.get("dataset", dict, None),
        target=f.get("target", (int, float), None),
        spec_sha256=f.get("spec_sha256", str, None),
        max_epochs=f.get("max_epochs", int, None),
        seeds=f.get("seeds", list, []),
        runs=f.get("runs", int, 0),
        warmup=f.get("warmup", int, 0),
        notes=f.get("notes", list, []),
        hyperfine=f.get("hyperfine", dict, {}),
        parity_steps=f.get("parity_steps", int, None) if "parity_steps" in f.data else legacy_steps,
        hyperfine_exports=f.get("hyperfine_exports", list, None),
        shuffle_seed=f.get("shuffle_seed", int, None),
        cpus=f.get("cpus", list, None),
        precision=f.get("precision", (int, float), None),
        max_time=f.get("max_time", (int, float), None),
        floor=f.get("floor", dict, {}),
        timeout=f.get("timeout", (int, float), None),
        contenders_files=f.get("contenders_files", list, []),
    )


# ---------------------------------------------------------------- outcome.json


@dataclass(frozen=True)
class Failure:
    """One (contender, seed) whose timed process exited non-zero, run again for its stderr."""

    seed: str
    exit_codes: list[int | None]
    rerun_exit_code: int | None
    reason: str
    stderr_tail: str
    stderr_file: str


@dataclass(frozen=True)
class ContenderOutcome:
    """ok, failed (with its failures), or not measured."""

    status: str
    failures: list[Failure] = field(default_factory=list)

    @property
    def exit_codes(self) -> list[int]:
        """The non-zero exit codes seen, sorted."""
        codes = {c for f in self.failures for c in f.exit_codes if c}
        return sorted(codes)

    @property
    def note(self) -> str:
        """Every failing seed's reason, in words."""
        return "; ".join(sorted({f"seed {f.seed}: {f.reason}" for f in self.failures}))


@dataclass(frozen=True)
class Outcome:
    """outcome.json: what happened while measuring."""

    started: str | None = None
    finished: str | None = None
    interrupted: bool = False
    parity_status: str = "skipped"  # passed, failed, skipped, pending
    outcomes: dict[str, ContenderOutcome] = field(default_factory=dict)
    rounds_done: int = 0
    stop_reason: str = ""  # rounds (the count asked), precision (reached), time, max_rounds
    precision_reached: float | None = None  # worst like-for-like CI half-width (--precision)
    noise: dict[str, Any] = field(
        default_factory=dict
    )  # harness.measurement.noise snapshots and load


def write_outcome(run_dir: Path, outcome: Outcome) -> None:
    """Write outcome.json."""
    write_json(run_dir / "outcome.json", asdict(outcome))


def read_outcome(run_dir: Path) -> Outcome:
    """outcome.json; for a schema-1 folder the same facts from run.json; empty when neither."""
    path = run_dir / "outcome.json"
    if not path.is_file():
        legacy = run_dir / "run.json"
        if not legacy.is_file():
            return Outcome()
        path = legacy
    f = _Fields(read_json(path), path)
    parity = f.get("parity", dict, {})
    contenders = {}
    raw_outcomes = f.get("outcomes", dict, {})
    for name, raw in raw_outcomes.items():
        raw = raw if isinstance(raw, dict) else {}
        failures = [
            Failure(
                seed=str(x.get("seed", "")),
                exit_codes=list(x.get("exit_codes") or []),
                rerun_exit_code=x.get("rerun_exit_code"),
                reason=str(x.get("reason", "")),
                stderr_tail=str(x.get("stderr_tail", "")),
                stderr_file=str(x.get("stderr_file", "")),
            )
            for x in raw.get("failures") or []
            if isinstance(x, dict)
        ]
        contenders[str(name)] = ContenderOutcome(str(raw.get("status", "ok")), failures)
    return Outcome(
        started=f.get("started", str, None),
        finished=f.get("finished", str, None),
        interrupted=f.get("interrupted", bool, False),
        parity_status=f.get("parity_status", str, None) or str(parity.get("status", "skipped")),
        outcomes=contenders,
        rounds_done=f.get("rounds_done", int, 0),
        stop_reason=f.get("stop_reason", str, ""),
        precision_reached=f.get("precision_reached", (int, float), None),
        noise=f.get("noise", dict, {}),
    )
