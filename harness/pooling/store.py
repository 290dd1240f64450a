"""The results store: every run's machine, facts, summary rows and ratios, in SQLite or PostgreSQL.

Results folders stay the source of truth; the store indexes them (store_index) so that
`harness history` can follow each ratio over time. Where it lives, first found:

    --store URL                 sqlite:///path, a plain file path, or postgresql://user@host/db
    MLP_BENCH_STORE=URL         the same, for a team's PostgreSQL (CI jobs, many machines)
    <results root>/history.sqlite    the embedded default, updated by every `harness run`

Writers are serialised: SQLite transactions begin IMMEDIATE (the write lock first, waiting up to
`BUSY_SECONDS`), PostgreSQL ones take one advisory lock, so two runs finishing at once or twenty
CI jobs pushing at once each land whole, once. Adding a folder whose identity is stored already
changes nothing (or replaces its rows when the folder was re-analysed).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from harness.errors import HarnessError
from harness.pooling import store_schema as schema
from harness.pooling.store_index import StoredRun, read_folder

ENV_VAR = "MLP_BENCH_STORE"
DEFAULT_NAME = "history.sqlite"
BUSY_SECONDS = 60.0  # a writer waits this long for another to finish
LOCK_KEY = 2024062402  # PostgreSQL advisory lock serialising the writers


def resolve(url: str | None, results_root: Path = Path("results")) -> URL:
    """--store, else $MLP_BENCH_STORE, else <results_root>/history.sqlite, as a URL."""
    raw = url or os.environ.get(ENV_VAR) or str(results_root / DEFAULT_NAME)
    if "://" not in raw:
        return URL.create("sqlite", database=str(Path(raw)))
    if raw.startswith(("postgres://", "postgresql://")):
        raw = "postgresql+psycopg://" + raw.split("://", 1)[1]
    try:
        return make_url(raw)
    except ArgumentError as exc:
        raise HarnessError(f"--store {raw!r}: not a database URL ({exc})") from exc


def describe(url: URL) -> str:
    """The store's name in messages: the SQLite file, or the URL without its password."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True).replace("+psycopg", "")


def _problem(url: URL, exc: BaseException) -> HarnessError:
    """One line for a database error: which store, what failed, what to do."""
    where = describe(url)
    first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["unknown error"])[0]
    if url.get_backend_name() == "sqlite" and (
        "not a database" in first or "malformed" in first or "corrupt" in first
    ):
        return HarnessError(
            f"{where}: not a readable SQLite store ({first}); move it aside and rebuild it from "
            "the folders: python -m harness store add results/*/"
        )
    if url.get_backend_name() == "postgresql" and "connect" in first.lower():
        host = f"{url.host or 'localhost'}:{url.port or 5432}"
        return HarnessError(f"store {where}: cannot connect to {host}: {first}")
    return HarnessError(f"store {where}: {first}")


class Store:
    """An open store: a schema-checked engine and the store's operations."""

    def __init__(self, url: URL, engine: Engine) -> None:
        self.url, self.engine = url, engine
        self.name = describe(url)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction holding the store's write lock; errors as one line."""
        try:
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text(f"SELECT pg_advisory_xact_lock({LOCK_KEY})"))
                yield conn
        except DBAPIError as exc:
            raise _problem(self.url, exc) from exc

    def add(self, stored: StoredRun) -> str:
        """Index one folder's rows: `added`, `updated` (re-analysed) or `unchanged`.

        One transaction under the write lock: a writer adding the same folder at the same time
        waits, then finds it stored.
        """
        with self.begin() as conn:
            return self._add(conn, stored)

    def add_many(self, stored: list[StoredRun]) -> list[str]:
        """Index many runs in one transaction (bulk loads: the scale benchmark)."""
        with self.begin() as conn:
            return [self._add(conn, one) for one in stored]

    def _add(self, conn: Connection, stored: StoredRun) -> str:
        machine = stored.machine
        row = conn.execute(
            select(schema.machines.c.id).where(
                schema.machines.c.fingerprint == machine["fingerprint"]
            )
        ).first()
        machine_id = (
            row[0]
            if row
            else conn.execute(schema.machines.insert().values(**machine)).inserted_primary_key[0]
        )
        run = {**stored.run, "machine_id": machine_id}
        runs = schema.runs
        found = conn.execute(
            select(runs.c.id, runs.c.content).where(runs.c.identity == run["identity"])
        ).first()
        if found and found.content == run["content"]:
            return "unchanged"
        if found:
            run_id, status = found.id, "updated"
            for table in (schema.ratios, schema.contenders):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(runs.update().where(runs.c.id == run_id).values(**run))
        else:
            run_id, status = (
                conn.execute(runs.insert().values(**run)).inserted_primary_key[0],
                "added",
            )
        if stored.contenders:
            conn.execute(
                schema.contenders.insert(), [{**c, "run_id": run_id} for c in stored.contenders]
            )
        if stored.ratios:
            conn.execute(schema.ratios.insert(), [{**r, "run_id": run_id} for r in stored.ratios])
        return status

    def count_runs(self) -> int:
        """How many runs the store holds."""
        with self.begin() as conn:
            return int(conn.execute(text("SELECT count(*) FROM runs")).scalar_one())

    def series_rows(self, metric: str, last: int = 0) -> list[dict[str, Any]]:
        """The stored ratios of one metric with their run's and machine's facts, in order within
        each series (machine, spec, contender, reference): commit time, start time, run id.
        `last` > 0 keeps the newest `last` runs of each series; `total` counts them all."""
        r, m, q = schema.runs, schema.machines, schema.ratios
        columns = [
            m.c.fingerprint, m.c.cpu_model, m.c.logical_cores, m.c.memory_bytes, m.c.arch,
            m.c.blas_kernel, r.c.id.label("run"), r.c.folder, r.c.spec_key, r.c.dataset,
            r.c.target, r.c.commit, r.c.dirty, r.c.commit_time, r.c.started_at, r.c.hostname,
            r.c.numpy, r.c.blas, r.c.rustc, r.c.torch, r.c.busy, r.c.alpha, q.c.contender,
            q.c.reference, q.c.ratio, q.c.ci_low, q.c.ci_high, q.c.n, q.c.verdict,
        ]  # fmt: skip
        series = [m.c.fingerprint, r.c.spec_key, q.c.contender, q.c.reference]
        newest = [func.coalesce(r.c.commit_time, r.c.started_at).desc(), r.c.started_at.desc()]
        ranked = (
            select(
                *columns,
                func.row_number()
                .over(partition_by=series, order_by=[*newest, r.c.id.desc()])
                .label("age"),
                func.count().over(partition_by=series).label("total"),
            )
            .select_from(q.join(r, q.c.run_id == r.c.id).join(m, r.c.machine_id == m.c.id))
            .where(q.c.metric == metric)
            .subquery()
        )
        query = select(ranked).order_by(*(ranked.c[c.name] for c in series), ranked.c.age.desc())
        if last:
            query = query.where(ranked.c.age <= last)
        with self.begin() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]


def open_store(url: URL, create: bool = True) -> Store:
    """Connect, then create or upgrade the schema (refusing a newer one); one line on failure."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = Path(url.database or "")
        if not create and not path.is_file():
            raise HarnessError(
                f"{path}: no store yet; `python -m harness run` fills it, "
                "`python -m harness store add DIR...` indexes older folders"
            )
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HarnessError(f"{path}: cannot create the store: {exc.strerror}") from exc
    elif backend != "postgresql":
        raise HarnessError(f"--store {describe(url)}: expected a sqlite or postgresql URL")
    try:
        if backend == "sqlite":
            engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": BUSY_SECONDS})
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})
    except (NoSuchModuleError, ImportError) as exc:
        raise HarnessError(f"store {describe(url)}: {exc}") from exc
    store = Store(url, engine)
    with store.begin() as conn:
        schema.ensure(conn, store.name)
    return store


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it)."""
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys = ON")


def _sqlite_begin(conn: Connection) -> None:
    """Take the write lock at the start (waiting for another writer), not at the first write."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def add_folders(folders: list[Path], url: URL, log: Callable[[str], None]) -> int:
    """`store add`: index each folder; one line per folder; 0 when at least one is stored."""
    store = open_store(url)
    stored = 0
    for folder in folders:
        try:
            status = store.add(read_folder(folder))
        except HarnessError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        stored += 1
        log(f"{status}: {folder}")
    log(f"{store.name}: {store.count_runs()} runs")
    return 0 if stored else 2


def index_run(
    run_dir: Path, results_root: Path, url: str | None, log: Callable[[str], None]
) -> None:
    """After `harness run`'s report: index the folder; a failure is one line, never fatal."""
    from harness import __version__

    try:
        where = resolve(url, results_root)
        status = open_store(where).add(read_folder(run_dir, __version__))
    except Exception as exc:  # indexing must never cost a finished run (one line, any error)
        reason = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
        print(
            f"warning: the run was not indexed ({reason}); its folder is complete: "
            f"`python -m harness store add {run_dir}` indexes it later",
            file=sys.stderr,
        )
        return
    log(f"store: {status} in {describe(where)}")
