"""The results folder: a unique per-run directory, the `latest` link, and its JSON files."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import sys
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

SCHEMA_VERSION = 1  # every JSON file the harness writes carries "schema_version": 1
LATEST = "latest"
STAGES_FILE = "stages.json"  # what each derived stage was last computed from (see below)


def new_results_dir(root: Path, now: datetime | None = None, host: str | None = None) -> Path:
    """Create results/<YYYYmmdd-HHMMSS>-<host>[-N]/ atomically (mkdir fails if it exists)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    host = (host or socket.gethostname().split(".")[0] or "host").replace(os.sep, "_")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"{root}: cannot create the results folder: {exc.strerror}") from exc
    base = f"{stamp}-{host}"
    for n in range(1, 10_000):
        candidate = root / (base if n == 1 else f"{base}-{n}")
        try:
            candidate.mkdir()  # atomic: two runs in the same second get -2, -3, ...
        except FileExistsError:
            continue
        except OSError as exc:
            raise HarnessError(f"{candidate}: cannot create: {exc.strerror}") from exc
        return candidate
    raise HarnessError(f"{root}: too many results folders named {base}-N")


def update_latest(run_dir: Path) -> None:
    """Point <root>/latest at run_dir with a relative symlink, replaced atomically."""
    root = run_dir.parent
    tmp = root / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, root / LATEST)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HarnessError(f"{root / LATEST}: cannot update the link: {exc.strerror}") from exc


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write data (plus schema_version) as indented JSON, via a temporary file and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"schema_version": SCHEMA_VERSION, **data}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path, check_schema: bool = True) -> dict[str, Any]:
    """Read a harness JSON file; HarnessError naming the file on any problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise HarnessError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{path}: not valid UTF-8 text") from exc
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a JSON object at the top level")
    if check_schema and data.get("schema_version") != SCHEMA_VERSION:
        raise HarnessError(
            f"{path}: unknown schema_version {json.dumps(data.get('schema_version'))}, "
            f"expected {SCHEMA_VERSION}"
        )
    return data


def read_optional_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file that may be absent (None) and may lack schema_version."""
    return read_json(path, check_schema=False) if path.is_file() else None


def update_json(path: Path, **fields: Any) -> dict[str, Any]:
    """Merge fields into an existing harness JSON file and return the new content."""
    data = read_json(path)
    data.update(fields)
    data.pop("schema_version", None)
    write_json(path, data)
    return data


def now_iso() -> str:
    """The current local time, ISO 8601 with offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------- derived stages, like make
#
# ingest, analyze and plot are pure functions of files in the folder and of the harness code.
# After each one runs, stages.json records a sha256 of what it read (the files, the harness's
# own Python source, the library versions) and of what it wrote. `report DIR` skips a stage
# while both digests still match, so re-rendering an unchanged folder costs only the report
# itself; an edited, added or removed input or output, or a harness or library upgrade, makes
# the stage run again. `report DIR --recompute` ignores the records.


@dataclass(frozen=True)
class Stage:
    """The files one derived stage reads and writes (glob patterns, relative to the folder)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


_METRICS = "metrics/**/*.jsonl"
_TABLES = tuple(f"tables/{t}.csv" for t in ("contenders", "runs", "epochs", "evaluator"))
STAGES: dict[str, Stage] = {
    "ingest": Stage(
        ("run.json", "spec.json", "hyperfine.json", "hyperfine-json/*", _METRICS, "models/*/*"),
        (*_TABLES, "ingest.json"),
    ),
    "analyze": Stage(
        ("run.json", "spec.json", "env.json", "parity.json", _METRICS, *_TABLES),
        ("analysis.json", "tables/summary.csv"),
    ),
    "plot": Stage(("analysis.json", "tables/runs.csv", "tables/epochs.csv"), ("plots/*",)),
}
# Code and libraries whose change can change what a stage writes.
_CODE = ("harness/*.py", "python_impl/*.py")
_LIBRARIES = ("numpy", "pandas", "scipy", "matplotlib", "safetensors")


def _feed_files(digest: Any, root: Path, patterns: tuple[str, ...]) -> None:
    """Feed the relative names and contents of the files matching patterns into digest."""
    paths = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with path.open("rb") as stream:
            digest.update(hashlib.file_digest(stream, "sha256").digest())


@functools.cache
def _code_digest() -> bytes:
    """sha256 of the harness and evaluator source, the Python and the library versions."""
    digest = hashlib.sha256(sys.version.encode())
    _feed_files(digest, Path(__file__).resolve().parents[1], _CODE)
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}=={version(name)}".encode())
        except PackageNotFoundError:
            digest.update(f"{name} missing".encode())
    return digest.digest()


def stage_inputs(run_dir: Path, name: str) -> str:
    """sha256 of what the stage reads now: its input files and the code."""
    digest = hashlib.sha256(_code_digest())
    _feed_files(digest, run_dir, STAGES[name].inputs)
    return digest.hexdigest()


def _stage_outputs(run_dir: Path, name: str) -> str:
    """sha256 of what the stage wrote."""
    digest = hashlib.sha256()
    _feed_files(digest, run_dir, STAGES[name].outputs)
    return digest.hexdigest()


def _records(run_dir: Path) -> dict[str, Any]:
    """stages.json without its schema_version; empty when absent or unreadable."""
    try:
        records = read_json(run_dir / STAGES_FILE)
    except HarnessError:
        return {}
    records.pop("schema_version", None)
    return records


def _record(run_dir: Path, name: str, inputs: str) -> dict[str, str]:
    """A stage's entry in stages.json: these inputs and its outputs as they are now."""
    return {"inputs_sha256": inputs, "outputs_sha256": _stage_outputs(run_dir, name)}


def stage_is_current(run_dir: Path, name: str, inputs: str) -> bool:
    """True when the stage last ran on these inputs and its outputs are untouched since."""
    return _records(run_dir).get(name) == _record(run_dir, name, inputs)


def stage_done(run_dir: Path, name: str, inputs: str) -> None:
    """Record that the stage has just run on `inputs` (a stage_inputs digest taken before)."""
    records = _records(run_dir)
    records[name] = _record(run_dir, name, inputs)
    write_json(run_dir / STAGES_FILE, records)
