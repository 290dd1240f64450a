"""The results store and `harness history`, each test on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import itertools
import multiprocessing
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import postgres_server
import pytest
from browser import CHROMIUM, probe
from data.history_factory import OTHER_MACHINE, History, runs
from data.results_factory import FakeRun, write_results
from sqlalchemy import text

from harness.__main__ import main
from harness.analysis.analyze import analyze
from harness.errors import HarnessError
from harness.pooling import store, store_schema
from harness.pooling.history import HistoryConfig
from harness.pooling.history_render import build
from harness.pooling.store_index import read_folder

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> str:
    """A throwaway PostgreSQL server for the session; its base URL."""
    if postgres_server.binaries() is None:
        pytest.skip("no PostgreSQL binaries (Debian package `postgresql`)")
    folder = Path(tempfile.mkdtemp(prefix="mlp-bench-pg-"))
    try:
        with postgres_server.server(folder) as url:
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: a SQLite file, or a new database on the test server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite'}"
    base = request.getfixturevalue("postgres")
    return postgres_server.create_database(base, f"store_{next(_names)}")


def _open(url: str) -> store.Store:
    return store.open_store(store.resolve(url))


def _analysed(folder: Path, **fake: object) -> Path:
    write_results(folder, FakeRun(**fake))  # type: ignore[arg-type]
    analyze(folder)
    return folder


def _series(s: store.Store, cfg: HistoryConfig | None = None):
    return build(s.series_rows("run"), cfg or HistoryConfig())


def test_a_folder_added_twice_or_by_another_path_is_one_run(store_url, tmp_path):
    folder = _analysed(tmp_path / "20261201-000000-vm")
    (tmp_path / "latest").symlink_to(folder.name)
    s = _open(store_url)
    assert s.add(read_folder(folder)) == "added"
    assert s.add(read_folder(folder)) == "unchanged"
    assert s.add(read_folder(tmp_path / "latest")) == "unchanged"
    assert s.count_runs() == 1
    rows = s.series_rows("run")
    assert [(r["contender"], r["reference"]) for r in rows] == [("rust", "python-numpy")]
    assert rows[0]["cpu_model"] == "Synthetic CPU @ 3.0GHz" and rows[0]["numpy"] == "2.4.6"
    assert rows[0]["ratio"] > 1 and rows[0]["ci_low"] < rows[0]["ratio"] < rows[0]["ci_high"]
    assert len(s.series_rows("epoch")) == 1


def test_a_reanalysed_folder_replaces_its_rows_instead_of_adding_a_run(store_url, tmp_path):
    folder = _analysed(tmp_path / "run")
    s = _open(store_url)
    s.add(read_folder(folder))
    before = s.series_rows("run")[0]["ratio"]
    analysis = (folder / "analysis.json").read_text()
    (folder / "analysis.json").write_text(analysis.replace(f"{before}", f"{before * 0.5}"))
    assert s.add(read_folder(folder)) == "updated"
    rows = s.series_rows("run")
    assert s.count_runs() == 1 and len(rows) == 1
    assert rows[0]["ratio"] == pytest.approx(before * 0.5)


def test_a_10_percent_step_among_5_percent_noise_is_found_at_its_run(store_url):
    s = _open(store_url)
    for stored in runs(History(runs=30, noise=0.05, step=0.10, step_at=17)):
        s.add(stored)
    (series,) = _series(s)
    confirmed = [step for step in series.result.steps if step.confirmed]
    assert [step.index for step in confirmed] == [17]
    assert confirmed[0].change == pytest.approx(1 / 1.10 - 1, abs=0.03)
    assert confirmed[0].ci_low < confirmed[0].change < confirmed[0].ci_high < 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flat_noise_of_5_percent_has_no_step(store_url, seed):
    s = _open(store_url)
    for stored in runs(History(runs=30, noise=0.05, seed=seed)):
        s.add(stored)
    (series,) = _series(s)
    assert not [step for step in series.result.steps if step.confirmed]
    assert series.result.newest_regression is None


def test_another_machine_or_spec_never_enters_a_series(store_url):
    s = _open(store_url)
    for stored in runs(History(runs=12, noise=0.02, tag="a")):
        s.add(stored)
    # The same ratio 30 % lower on another machine, and on another spec: two more series.
    for h in (
        History(runs=6, noise=0.02, contender_seconds=2.0, machine=OTHER_MACHINE, tag="b"),
        History(runs=6, noise=0.02, contender_seconds=2.0, spec_key="f" * 16, tag="c"),
    ):
        for stored in runs(h):
            s.add(stored)
    series = _series(s)
    assert sorted(len(x.runs) for x in series) == [6, 6, 12]
    assert all(not x.result.steps or not any(st.confirmed for st in x.result.steps) for x in series)


def test_fail_on_regression_exits_1_only_when_the_newest_run_steps_down(store_url, tmp_path):
    s = _open(store_url)
    for stored in runs(History(runs=20, noise=0.01, step=0.20, step_at=19)):
        s.add(stored)
    page = tmp_path / "history.html"
    args = ["history", "--store", store_url, "--html", str(page), "--fail-on-regression"]
    assert main(args) == 1
    assert "Regression: the newest run is a confirmed step" in page.read_text()
    assert main(args[:-1]) == 0  # without the gate: the same page, exit 0


def test_a_step_inside_the_history_does_not_fail_the_gate(store_url, tmp_path):
    s = _open(store_url)
    for stored in runs(History(runs=20, noise=0.01, step=0.20, step_at=10)):
        s.add(stored)
    page = tmp_path / "h.html"
    assert main(["history", "--store", store_url, "--html", str(page), "--fail-on-regression"]) == 0
    assert page.read_text().count("confirmed") >= 1


def test_a_store_from_a_newer_harness_is_refused_and_left_untouched(store_url):
    s = _open(store_url)
    with s.begin() as conn:
        conn.execute(text("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'"))
    with pytest.raises(HarnessError, match="schema version 99, newer than this harness's 1"):
        _open(store_url)
    with s.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 0


def test_an_older_schema_is_upgraded_in_place(store_url, monkeypatch):
    s = _open(store_url)
    s.add(runs(History(runs=1))[0])

    def add_note(conn):
        conn.execute(text("ALTER TABLE runs ADD COLUMN note TEXT"))

    monkeypatch.setattr(store_schema, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(store_schema.UPGRADES, 1, add_note)
    upgraded = _open(store_url)
    with upgraded.begin() as conn:
        assert store_schema.stored_version(conn) == 2
        assert conn.execute(text("SELECT count(note) FROM runs")).scalar_one() == 0
    assert upgraded.count_runs() == 1


def _writer(url: str, batch: list, barrier) -> None:
    """One concurrent writer: open the store, wait for the others, add its runs."""
    s = store.open_store(store.resolve(url))
    barrier.wait()
    for stored in batch:
        s.add(stored)


def _run_writers(url: str, batches: list[list]) -> None:
    ctx = multiprocessing.get_context("fork")  # the writers start at once, imports done
    barrier = ctx.Barrier(len(batches))
    procs = [ctx.Process(target=_writer, args=(url, b, barrier)) for b in batches]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * len(procs)


@pytest.mark.slow
def test_two_runs_finishing_at_once_into_one_sqlite_file_both_land_once(tmp_path):
    folders = [_analysed(tmp_path / f"run-{i}", random_seed=i) for i in range(3)]
    shared = read_folder(folders[2])  # both writers also add the same third folder
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    _run_writers(url, [[read_folder(folders[0]), shared], [read_folder(folders[1]), shared]])
    s = _open(url)
    assert s.count_runs() == 3
    assert len(s.series_rows("run")) == 3  # one ratio per run, none doubled


@pytest.mark.slow
def test_twenty_writers_pushing_to_one_postgresql_at_once_lose_and_double_nothing(postgres):
    url = postgres_server.create_database(postgres, f"store_{next(_names)}")
    shared = runs(History(runs=1, tag="shared"))[0]
    batches = [[*runs(History(runs=5, tag=f"w{i}", seed=i)), shared] for i in range(20)]
    _run_writers(url, batches)
    s = _open(url)
    assert s.count_runs() == 20 * 5 + 1
    rows = s.series_rows("run")
    assert len(rows) == 101 and len({r["folder"] for r in rows}) == 101
    with s.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM machines")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM contenders")).scalar_one() == 202


def test_store_add_indexes_folders_and_names_each_bad_one_in_one_line(tmp_path, capsys):
    folder = _analysed(tmp_path / "results" / "20261201-000000-vm")
    (tmp_path / "results" / "README.md").write_text("not a folder")
    url = f"sqlite:///{tmp_path / 'results' / 'history.sqlite'}"
    argv = ["store", "add", str(folder), str(tmp_path / "results" / "README.md"), "--store", url]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert f"added: {folder}" in out and "1 runs" in out
    assert err.strip().splitlines() == [
        f"error: {tmp_path / 'results' / 'README.md'}: not a results folder (not a directory)"
    ]
    assert main(["store", "add", str(tmp_path / "nothing"), "--store", url]) == 2


def test_a_folder_without_analysis_says_how_to_make_it(tmp_path, capsys):
    folder = write_results(tmp_path / "run")
    assert main(["store", "add", str(folder), "--store", str(tmp_path / "h.sqlite")]) == 2
    assert "analysis.json: not found; `python -m harness report" in capsys.readouterr().err


def test_a_corrupted_sqlite_file_is_one_line_with_the_rebuild_command(tmp_path, capsys):
    bad = tmp_path / "history.sqlite"
    bad.write_bytes(b"this is not a database, just some bytes " * 100)
    assert main(["history", "--store", str(bad), "--html", str(tmp_path / "h.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: {bad}: not a readable SQLite store")
    assert err.endswith("python -m harness store add results/*/")
    assert bad.read_bytes().startswith(b"this is not")  # nothing written


def test_a_store_that_does_not_connect_names_the_host_in_one_line(tmp_path, capsys):
    port = postgres_server._free_port()  # nothing listens there
    url = f"postgresql://bench:secret@127.0.0.1:{port}/history"
    assert main(["history", "--store", url, "--html", str(tmp_path / "h.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"cannot connect to 127.0.0.1:{port}" in err and "secret" not in err


def test_a_failure_to_index_after_a_run_is_one_line_and_keeps_the_folder(tmp_path, capsys):
    folder = _analysed(tmp_path / "results" / "run")
    files = sorted(p.name for p in folder.iterdir())
    port = postgres_server._free_port()
    store.index_run(folder, tmp_path / "results", f"postgresql://b@127.0.0.1:{port}/x", print)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("warning: the run was not indexed")
    assert f"store add {folder}" in err
    assert sorted(p.name for p in folder.iterdir()) == files


def test_indexing_after_a_run_fills_the_default_store_beside_the_results(tmp_path, monkeypatch):
    monkeypatch.delenv(store.ENV_VAR, raising=False)
    root = tmp_path / "results"
    for i in range(2):
        store.index_run(_analysed(root / f"run-{i}", random_seed=i), root, None, lambda _: None)
    assert _open(str(root / "history.sqlite")).count_runs() == 2
    assert (
        sqlite3.connect(root / "history.sqlite").execute("SELECT count(*) FROM runs").fetchone()[0]
        == 2
    )


def test_the_environment_variable_points_at_the_team_store(monkeypatch, tmp_path):
    monkeypatch.setenv(store.ENV_VAR, "postgresql://ci@db.example:5433/bench")
    url = store.resolve(None, tmp_path)
    assert url.drivername == "postgresql+psycopg" and url.host == "db.example"
    assert store.resolve("x.sqlite").database == "x.sqlite"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_history_page_loads_in_chromium_with_every_figure(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    s = _open(url)
    for h in (
        History(runs=30, step=0.10, step_at=17),
        History(runs=8, tag="b", machine=OTHER_MACHINE),
    ):
        for stored in runs(h):
            s.add(stored)
    page = tmp_path / "history.html"
    assert main(["history", "--store", url, "--html", str(page)]) == 0
    assert probe(page, tmp_path) == {"errors": [], "images": 2, "broken": []}
    assert "step at run 18" in page.read_text()


def test_history_without_a_store_says_how_to_fill_one(tmp_path, capsys):
    missing = tmp_path / "history.sqlite"
    assert main(["history", "--store", str(missing), "--html", str(tmp_path / "h.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {missing}: no store yet") and "store add DIR" in err
    assert not missing.exists()


def test_one_slow_run_inside_a_flat_history_is_an_outlier_not_a_step():
    from harness.pooling.history import Point, analyse

    rng = np.random.default_rng(5)
    ratios = 1.3 * np.exp(0.01 * rng.standard_normal(20))
    ratios[10] *= 0.7
    points = [Point(float(r), float(r) * 0.98, float(r) * 1.02, 6) for r in ratios]
    result = analyse(points)
    assert [s.index for s in result.steps] == [10, 11]
    assert {s.reason for s in result.steps} == {"outlier"}
    assert len(result.segments) == 1  # no confirmed step: one level


def test_last_keeps_the_newest_runs_of_each_series_in_order(store_url):
    s = _open(store_url)
    for h in (History(runs=12, tag="a"), History(runs=7, tag="b", machine=OTHER_MACHINE)):
        for stored in runs(h):
            s.add(stored)
    rows = s.series_rows("run", 5)
    by_machine = {}
    for r in rows:
        by_machine.setdefault(r["cpu_model"], []).append((r["folder"], r["total"]))
    assert by_machine["Synthetic CPU @ 3.0GHz"] == [
        (f"/results/a-{i:05d}", 12) for i in range(7, 12)
    ]
    assert by_machine["Other CPU"] == [(f"/results/b-{i:05d}", 7) for i in range(2, 7)]
