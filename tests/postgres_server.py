"""A throwaway PostgreSQL server for the tests: initdb and pg_ctl on a temporary folder.

It listens on 127.0.0.1 at a free port, trusts local connections, and runs as the unprivileged
`postgres` user when the tests run as root (PostgreSQL refuses to run as root). `binaries()`
is None where no PostgreSQL is installed (Debian's `postgresql` package provides it); the
tests using it skip then, saying so.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path | None:
    """The newest /usr/lib/postgresql/<v>/bin holding initdb and pg_ctl, else PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _version(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(folder: Path) -> Iterator[str]:
    """Start a server with its data in `folder` (new, under a folder `postgres` can reach, such
    as one from tempfile.mkdtemp); yield its base URL; stop it afterwards."""
    bin_dir = binaries()
    assert bin_dir is not None
    folder.mkdir(parents=True, exist_ok=True)
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir(exist_ok=True)
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL will not run as root: hand the folder to `postgres`
        user = pwd.getpwnam("postgres")
        for path in (folder, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "bench"])
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = folder / "server.log"
    _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
          "start"])  # fmt: skip
    try:
        yield f"postgresql://bench@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
        )


def _run(argv: list[str]) -> None:
    """Run a server command; its stderr in the error when it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr[-2000:]}")


def create_database(base_url: str, name: str) -> str:
    """CREATE DATABASE name on the server; its URL."""
    import psycopg

    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"
