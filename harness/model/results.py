"""The results folder: a unique per-run directory and the `latest` link to the newest report."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path

from harness.errors import HarnessError

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


def update_latest(run_dir: Path) -> str | None:
    """Point <root>/latest at run_dir with a relative symlink, replaced atomically.

    A `latest` that is not a link is the user's: left alone, and the returned note says so.
    """
    root = run_dir.parent
    link = root / LATEST
    if link.exists() and not link.is_symlink():
        return f"{link} is not the harness's link (a real file or folder): left as it is"
    tmp = root / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, root / LATEST)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HarnessError(f"{root / LATEST}: cannot update the link: {exc.strerror}") from exc
    return None
