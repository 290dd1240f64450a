"""The metrics stream (CONTRACT.md): the one JSON-lines parser every stage uses.

A contender appends one JSON object per line to metrics/<contender>/seed-<s>.jsonl: start,
data, epoch..., end (and step lines with --max-steps), all tagged with the process's run_id.
Every field the harness uses is type-checked here, against the contract's types.

Two modes, chosen by the caller:
- strict: the first problem raises HarnessError("<file>:<line>: <problem>");
- lenient: a problem marks the run it belongs to invalid (`Process.problem`, with file:line)
  and parsing goes on, so one bad line costs one run, not the report. A line that names no
  run_id cannot be attributed: it is reported in `Stream.problems`.
A partial last line (a process killed mid-write) is ignored in both modes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

NUMBER = (int, float)
# Event -> field -> allowed JSON types (None: null allowed). Fields not listed are not checked.
FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "start": {"implementation": (str,), "threads": (int,), "spec_sha256": (str,)},
    "data": {"load_seconds": NUMBER, "train_samples": (int,), "test_samples": (int,)},
    "epoch": {
        "epoch": (int,),
        "steps": (int,),
        "train_seconds": NUMBER,
        "eval_seconds": NUMBER,
        "train_loss": (*NUMBER, type(None)),
        "test_correct": (int,),
        "test_accuracy": NUMBER,
    },
    "step": {"step": (int,), "loss": (*NUMBER, type(None))},
    "end": {
        "status": (str,),
        "epochs": (int,),
        "steps": (int,),
        "test_correct": (int,),
        "test_accuracy": NUMBER,
        "train_seconds": NUMBER,
        "wall_seconds": NUMBER,
    },
}
STATUSES = ("reached_target", "max_epochs", "max_steps", "diverged")


@dataclass
class Process:
    """Every event of one contender process (one run_id), in file order."""

    run_id: str
    start: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    problem: str = ""  # lenient mode: why this run's events cannot be trusted ("" = none)

    @property
    def status(self) -> str:
        """The end event's status; `invalid` for a bad stream, `crashed` without an end."""
        if self.problem:
            return "invalid"
        return str(self.end["status"]) if self.end else "crashed"


@dataclass
class Stream:
    """One metrics file: its processes in order, and problems no run_id could carry."""

    path: Path
    processes: list[Process] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def by_run_id(self) -> dict[str, Process]:
        """Processes keyed by run_id."""
        return {p.run_id: p for p in self.processes}


def _type_names(kinds: tuple[type, ...]) -> str:
    names = {int: "integer", float: "number", str: "string", type(None): "null"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def check_event(event: dict[str, Any]) -> str:
    """The first contract violation of one event's fields, or ""."""
    kind = event.get("event")
    for key, kinds in FIELDS.get(str(kind), {}).items():
        if key not in event:
            continue
        value = event[key]
        if not isinstance(value, kinds) or (isinstance(value, bool)):
            return f"{kind} event: {key}: expected {_type_names(kinds)}, got {json.dumps(value)}"
    if kind == "end" and event.get("status") not in STATUSES:
        return f"end event: status: expected one of {', '.join(STATUSES)}, got {event['status']!r}"
    return ""


def read_stream(path: Path, strict: bool) -> Stream:
    """Parse one metrics file (see the module docstring for the two modes)."""
    stream = Stream(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        if strict:
            raise HarnessError(f"{path}: not valid UTF-8 text") from exc
        text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    by_id: dict[str, Process] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            if number == len(lines) and not text.endswith("\n"):
                break  # a process killed mid-write leaves a partial last line: ignore it
            column = getattr(exc, "colno", "?")
            _problem(stream, None, f"{where}: not valid JSON (column {column})", strict)
            continue
        run_id = event.get("run_id") if isinstance(event, dict) else None
        process = by_id.get(run_id) if isinstance(run_id, str) else None
        if not isinstance(event, dict) or not isinstance(run_id, str) or not run_id:
            _problem(stream, None, f"{where}: expected an event object with a run_id", strict)
            continue
        if process is None:
            process = by_id[run_id] = Process(run_id)
            stream.processes.append(process)
        kind = event.get("event")
        if kind not in FIELDS:
            allowed = ", ".join(FIELDS)
            _problem(
                stream, process, f"{where}: unknown event {json.dumps(kind)} ({allowed})", strict
            )
            continue
        problem = check_event(event)
        if problem:
            _problem(stream, process, f"{where}: {problem}", strict)
            continue
        if kind == "epoch":
            process.epochs.append(event)
        elif kind == "step":
            process.steps.append(event)
        else:
            setattr(process, kind, event)
    return stream


def _problem(stream: Stream, process: Process | None, message: str, strict: bool) -> None:
    """Raise in strict mode; else mark the process (or the stream) with the first problem."""
    if strict:
        raise HarnessError(message)
    if process is None:
        stream.problems.append(message)
    elif not process.problem:
        process.problem = message


def end_status(path: Path) -> str | None:
    """The status of the last end event in a metrics file (lenient), None when none."""
    if not path.is_file():
        return None
    ends = [p.end for p in read_stream(path, strict=False).processes if p.end]
    return str(ends[-1]["status"]) if ends else None
