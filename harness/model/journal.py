"""measure.jsonl, the journal: one JSON line per finished timed process, appended at once.

measure writes it (a stop loses at most the process in flight); ingest and `run` read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JOURNAL = "measure.jsonl"


def read_journal(run_dir: Path) -> list[dict[str, Any]]:
    """measure.jsonl: one entry per finished process (a torn last line is ignored)."""
    path = run_dir / JOURNAL
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def append_entry(run_dir: Path, entry: dict[str, Any]) -> None:
    """One entry at the end of measure.jsonl."""
    with (run_dir / JOURNAL).open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(entry) + "\n")
