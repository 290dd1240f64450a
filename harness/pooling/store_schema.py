"""The results store's schema: one SQLAlchemy Core description for SQLite and PostgreSQL.

    store_meta     key/value: schema_version
    machines       one row per machine fingerprint (hardware only: software is per run)
    runs           one row per results folder (its identity is unique: adding twice is one run)
    contenders     per run, per contender: the summary row
    ratios         per run, per like-for-like comparison and metric (run, epoch): ratio + CI

harness/RESULTS.md ("The results store") documents every column. `ensure` creates the
tables or upgrades an older schema in place (UPGRADES, one step per version) and refuses a
newer one before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
)

from harness.errors import HarnessError

SCHEMA_VERSION = 1

metadata = MetaData()

store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

machines = Table(
    "machines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("cpu_model", Text),
    Column("logical_cores", Integer),
    Column("memory_bytes", Float),  # Float: 64-bit integers differ between the two databases
    Column("arch", String(64)),
    Column("blas_kernel", String(64)),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity", String(64), nullable=False, unique=True),
    Column("content", String(64), nullable=False),  # sha256 of the indexed files
    Column("folder", Text, nullable=False),
    Column("machine_id", Integer, ForeignKey("machines.id"), nullable=False),
    Column("spec_key", String(64), nullable=False),
    Column("dataset", String(64)),
    Column("target", Float),
    Column("commit", String(64)),
    Column("dirty", Boolean),
    Column("commit_time", String(40)),  # ISO 8601, when git knew the commit
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("harness_version", String(32)),
    Column("hostname", Text),
    Column("os", Text),
    Column("python", String(32)),
    Column("numpy", String(32)),
    Column("blas", Text),
    Column("torch", String(64)),
    Column("rustc", String(64)),
    Column("crates", Text),  # JSON object: crate -> version
    Column("hyperfine", String(32)),
    Column("sgemm_gflops", Text),  # JSON object: threads -> GFLOP/s
    Column("alpha", Float),
    Column("load_before", Float),
    Column("load_after", Float),
    Column("other_share", Float),
    Column("busy", Boolean),
    Column("slow_rounds", Integer),
    Column("rounds_done", Integer),
    Column("interrupted", Boolean),
    Column("parity", String(16)),
    Column("indexed_at", String(40), nullable=False),
)
Index("runs_series", runs.c.machine_id, runs.c.spec_key)

contenders = Table(
    "contenders",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("implementation", String(128)),
    Column("algorithm", String(64)),
    Column("threads", Integer),
    Column("language", String(64)),
    Column("approach", String(64)),
    Column("status", String(32)),
    Column("runs", Integer),
    Column("successes", Integer),
    Column("median_seconds", Float),
    Column("median_ci_low", Float),
    Column("median_ci_high", Float),
    Column("seconds_per_epoch", Float),
    Column("epochs_median", Float),
    Column("train_gflops", Float),
    Column("sgemm_fraction", Float),
    Column("max_rss_mib", Float),
    UniqueConstraint("run_id", "name"),
)

ratios = Table(
    "ratios",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("contender", String(128), nullable=False),
    Column("reference", String(128), nullable=False),
    Column("metric", String(16), nullable=False),  # run (whole process) or epoch
    Column("ratio", Float, nullable=False),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("p_value", Float),
    Column("verdict", String(16)),
    Column("n", Integer, nullable=False),
    Column("paired", Boolean),
    UniqueConstraint("run_id", "contender", "metric"),
)
Index("ratios_run", ratios.c.run_id)

# version -> the step that upgrades a store of that version to the next (in one transaction).
UPGRADES: dict[int, Callable[[Connection], None]] = {}


def stored_version(conn: Connection) -> int | None:
    """The store's schema version; None for an empty database."""
    if not inspect(conn).has_table("store_meta"):
        return None
    row = conn.execute(
        select(store_meta.c.value).where(store_meta.c.key == "schema_version")
    ).first()
    return int(row[0]) if row else None


def ensure(conn: Connection, where: str) -> None:
    """Create the schema, or upgrade it in place; refuse a store from a newer harness.

    Run inside a transaction that holds the store's write lock (store.Store.begin), so that
    twenty writers meeting an empty database create it once.
    """
    version = stored_version(conn)
    if version is not None and version > SCHEMA_VERSION:
        raise HarnessError(
            f"{where}: the store has schema version {version}, newer than this harness's "
            f"{SCHEMA_VERSION}; use a newer harness (nothing was written)"
        )
    if version is None:
        metadata.create_all(conn)
        conn.execute(store_meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
        return
    while version < SCHEMA_VERSION:
        UPGRADES[version](conn)
        version += 1
        conn.execute(
            store_meta.update()
            .where(store_meta.c.key == "schema_version")
            .values(value=str(version))
        )
