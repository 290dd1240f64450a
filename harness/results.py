"""The results folder: a unique per-run directory, the `latest` link, and its JSON files."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

SCHEMA_VERSION = 1  # every JSON file the harness writes carries "schema_version": 1
LATEST = "latest"


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


def read_json(path: Path) -> dict[str, Any]:
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
    if data.get("schema_version") != SCHEMA_VERSION:
        raise HarnessError(
            f"{path}: unknown schema_version {json.dumps(data.get('schema_version'))}, "
            f"expected {SCHEMA_VERSION}"
        )
    return data


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
