"""Find hyperfine and read its JSON exports (schema 1.x and schema_version 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

INSTALL_HINT = (
    "install it with `pip install astral-dev-toolchain-hyperfine` (the real hyperfine 2.0 "
    "binary), `cargo install hyperfine`, or your package manager, or set HYPERFINE=/path/to/it"
)

SUMMARY_KEYS = ("mean", "stddev", "median", "min", "max", "user", "system")


@dataclass(frozen=True)
class Measurement:
    """One timed process as hyperfine saw it (seconds, bytes)."""

    wall_seconds: float
    user_seconds: float | None
    system_seconds: float | None
    max_rss_bytes: float | None
    exit_code: int | None


@dataclass(frozen=True)
class CommandResult:
    """One benchmarked command: its runs and hyperfine's own summary (seconds)."""

    command: str
    name: str
    parameters: dict[str, str] = field(default_factory=dict)
    measurements: list[Measurement] = field(default_factory=list)
    summary: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Export:
    """A whole --export-json file."""

    schema: str
    hyperfine_version: str | None
    results: list[CommandResult]


def find_hyperfine() -> Path:
    """Locate hyperfine: $HYPERFINE, then the one installed with the project, then PATH.

    The project installs hyperfine 2 from PyPI beside its Python (a venv's bin/); an older
    hyperfine earlier on PATH (Debian's 1.15) must not shadow it, since 1.x records neither
    peak memory nor per-run user/system time.
    """
    env = os.environ.get("HYPERFINE")
    if env:
        path = Path(env)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise HarnessError(f"HYPERFINE={env}: not an executable file; {INSTALL_HINT}")
    beside = Path(sys.executable).parent / ("hyperfine.exe" if os.name == "nt" else "hyperfine")
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    on_path = shutil.which("hyperfine")
    if on_path:
        return Path(on_path)
    raise HarnessError(f"hyperfine: not found beside {sys.executable} nor on PATH; {INSTALL_HINT}")


def missing_features(version: str) -> list[str]:
    """What a hyperfine of this version does not record (empty for 2.x)."""
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return []
    if major >= 2:
        return []
    return ["peak memory (memory_peak_resident)", "per-run user and system time"]


def hyperfine_version(path: Path) -> str:
    """Return the version hyperfine reports (`hyperfine 2.0.0` -> `2.0.0`)."""
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise HarnessError(f"{path}: cannot run `--version`: {exc}") from exc
    words = out.split()
    if len(words) < 2 or words[0] != "hyperfine":
        raise HarnessError(f"{path}: unexpected `--version` output {out.strip()!r}")
    return words[1]


def parse_export(path: Path) -> Export:
    """Read a hyperfine --export-json file of schema 1.x (no schema_version) or 2."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise HarnessError(f"{path}: not a hyperfine export (expected an object with 'results')")
    version = data.get("schema_version")
    try:
        if version is None:
            return Export("1", None, [_v1_result(r) for r in data["results"]])
        if version == 2:
            meta = data.get("metadata") or {}
            primary = data.get("primary_metric", "time_wall_clock")
            results = [_v2_result(r, primary) for r in data["results"]]
            return Export("2", meta.get("hyperfine_version"), results)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HarnessError(f"{path}: malformed hyperfine result ({exc!r})") from exc
    raise HarnessError(f"{path}: unknown hyperfine schema_version {version!r} (expected 1.x or 2)")


def _num(value: Any) -> float | None:
    """A JSON number as float, None for null/missing."""
    return None if value is None else float(value)


def _at(values: list[Any] | None, i: int) -> Any:
    """values[i], or None when the list is missing or short."""
    return values[i] if values is not None and i < len(values) else None


def _v1_result(raw: dict[str, Any]) -> CommandResult:
    """Schema 1.x: per-run `times` (+ exit_codes, memory_usage_byte); totals for user/system."""
    times = raw.get("times") or []
    exits = raw.get("exit_codes")
    memory = raw.get("memory_usage_byte")
    # 1.x records only mean user/system per command, not per run: per-run values stay None.
    runs = [
        Measurement(
            wall_seconds=float(t),
            user_seconds=None,
            system_seconds=None,
            max_rss_bytes=_num(_at(memory, i)),
            exit_code=None if _at(exits, i) is None else int(_at(exits, i)),
        )
        for i, t in enumerate(times)
    ]
    params = {str(k): str(v) for k, v in (raw.get("parameters") or {}).items()}
    command = str(raw["command"])
    summary = {key: _num(raw.get(key)) for key in SUMMARY_KEYS}
    return CommandResult(command, command, params, runs, summary)


def _value(entry: Any) -> float | None:
    """A v2 metric entry {value, unit} (or a bare number) as float."""
    if isinstance(entry, dict):
        return _num(entry.get("value"))
    return _num(entry)


def _wall(measurement: dict[str, Any], primary: str) -> float:
    """The primary time metric of one v2 measurement; ValueError when absent."""
    wall = _value(measurement.get(primary, measurement.get("time_wall_clock")))
    if wall is None:
        raise ValueError(f"a measurement has no {primary}")
    return wall


def _v2_result(raw: dict[str, Any], primary: str) -> CommandResult:
    """Schema 2: a measurement object per run and a summary per metric."""
    runs = [
        Measurement(
            wall_seconds=_wall(m, primary),
            user_seconds=_value(m.get("time_user")),
            system_seconds=_value(m.get("time_system")),
            max_rss_bytes=_value(m.get("memory_peak_resident")),
            exit_code=None if m.get("exit_code") is None else int(m["exit_code"]),
        )
        for m in raw.get("measurements") or []
    ]
    params = {
        str(k): str(v.get("value") if isinstance(v, dict) else v)
        for k, v in (raw.get("parameters") or {}).items()
    }
    stats = raw.get("summary") or {}
    wall = stats.get(primary) or {}
    summary = {key: _num(wall.get(key)) for key in ("mean", "stddev", "median", "min", "max")}
    summary["user"] = _num((stats.get("time_user") or {}).get("mean"))
    summary["system"] = _num((stats.get("time_system") or {}).get("mean"))
    command = str(raw["command"])
    return CommandResult(command, str(raw.get("name") or command), params, runs, summary)


def merge_exports(files: list[Path], out: Path) -> None:
    """One hyperfine-shaped export holding every result of `files`, in order (for people).

    Each file is one --export-json of the same hyperfine; the merged file keeps the first
    file's top-level fields and concatenates the results, so it reads like one hyperfine run
    with one result per timed process.
    """
    merged: dict[str, Any] | None = None
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        if merged is None:
            merged = {**data, "results": []}
        merged["results"].extend(data.get("results") or [])
    if merged is None:
        return
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)
