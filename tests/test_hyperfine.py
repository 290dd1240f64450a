"""Reading hyperfine exports of schema 1.x and 2, and locating the binary."""

import os
import stat
import sys
from pathlib import Path

import pytest

from harness.analysis.ingest import ingest
from harness.errors import HarnessError
from harness.measurement.imports import import_exports
from harness.model.hyperfine import (
    find_hyperfine,
    hyperfine_version,
    merge_exports,
    missing_features,
    parse_export,
)
from harness.model.tables import RunRecord, columns, read_runs

DATA = Path(__file__).parent / "data"


def test_schema_1_export_of_the_original_comparison_keeps_its_times_and_summary():
    export = parse_export(DATA / "hyperfine-v1" / "py_results.json")
    assert export.schema == "1"
    (result,) = export.results
    assert result.command == result.name == "python3 main.py"
    assert len(result.measurements) == 100
    assert result.summary["mean"] == pytest.approx(193.53786224702995)
    assert result.summary["median"] == pytest.approx(192.4008465641)
    assert result.measurements[0].wall_seconds == pytest.approx(174.9020495981)
    assert result.measurements[0].exit_code == 0
    assert result.measurements[0].user_seconds is None  # 1.x has no per-run user time


def test_schema_1_memory_usage_becomes_the_peak_rss_of_each_run():
    (result,) = parse_export(DATA / "hyperfine-v1" / "parallel.json").results
    assert result.measurements[0].max_rss_bytes == 643764224


def test_schema_2_parameters_and_per_run_metrics_are_read():
    export = parse_export(DATA / "hyperfine-v2" / "parameter-list.json")
    assert export.schema == "2" and export.hyperfine_version == "2.0.0"
    assert [r.parameters for r in export.results] == [{"n": "1"}, {"n": "2"}, {"n": "4"}]
    first = export.results[0].measurements[0]
    assert first.wall_seconds == pytest.approx(0.011307509)
    assert first.user_seconds == pytest.approx(0.001084)
    assert first.max_rss_bytes == 3198976.0
    assert export.results[0].summary["median"] == pytest.approx(0.011307509)


def test_schema_2_failed_runs_keep_their_exit_codes():
    export = parse_export(DATA / "hyperfine-v2" / "ignore-failure.json")
    assert [m.exit_code for m in export.results[0].measurements] == [1, 1, 1]


def test_malformed_json_names_the_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(HarnessError, match=r"broken\.json: not valid JSON"):
        parse_export(bad)


def test_unknown_schema_version_is_refused(tmp_path):
    future = tmp_path / "future.json"
    future.write_text('{"schema_version": 3, "results": []}')
    with pytest.raises(HarnessError, match="unknown hyperfine schema_version 3"):
        parse_export(future)


def test_a_result_without_times_is_malformed(tmp_path):
    bad = tmp_path / "v2.json"
    bad.write_text('{"schema_version": 2, "results": [{"measurements": [{}]}]}')
    with pytest.raises(HarnessError, match=r"v2\.json: malformed"):
        parse_export(bad)


def test_runs_of_an_export_alone_have_the_runs_csv_columns_with_seed_and_run_index(tmp_path):
    export = tmp_path / "seeds.json"
    export.write_text(
        '{"results": [{"command": "a", "times": [1.0, 2.0], "parameters": {"seed": "7"}},'
        ' {"command": "a", "times": [3.0], "parameters": {"seed": "8"}}]}'
    )
    import_exports([export], tmp_path / "folder")
    ingest(tmp_path / "folder")
    frame = read_runs(tmp_path / "folder")
    assert list(frame.columns) == columns(RunRecord)
    assert frame["seed"].tolist() == ["7", "7", "8"]
    assert frame["run_index"].tolist() == [0, 1, 0]
    assert set(frame["status"]) == {"no_metrics"}
    assert frame["epochs"].isna().all()


def test_merged_exports_read_as_one_export_with_every_result_in_order(tmp_path):
    source = DATA / "hyperfine-v2" / "parameter-list.json"
    merge_exports([source, source], tmp_path / "merged.json")
    merged = parse_export(tmp_path / "merged.json")
    single = parse_export(source)
    assert merged.hyperfine_version == single.hyperfine_version
    assert [r.parameters for r in merged.results] == [r.parameters for r in single.results] * 2


def test_a_hyperfine_1_is_said_to_lack_memory_and_per_run_cpu_times():
    assert missing_features("2.0.0") == []
    assert any("peak memory" in m for m in missing_features("1.15.0"))


def _fake_hyperfine(folder: Path) -> Path:
    script = folder / "hyperfine"
    script.write_text("#!/bin/sh\necho 'hyperfine 9.9.9'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_the_hyperfine_env_var_wins_and_its_version_is_read(tmp_path, monkeypatch):
    fake = _fake_hyperfine(tmp_path)
    monkeypatch.setenv("HYPERFINE", str(fake))
    assert find_hyperfine() == fake
    assert hyperfine_version(fake) == "9.9.9"


def test_a_missing_hyperfine_gives_an_install_hint(tmp_path, monkeypatch):
    monkeypatch.delenv("HYPERFINE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(HarnessError, match="astral-dev-toolchain-hyperfine"):
        find_hyperfine()


def test_the_hyperfine_installed_with_the_project_wins_over_an_older_one_on_path(
    tmp_path, monkeypatch
):
    venv, system = tmp_path / "venv", tmp_path / "system"
    venv.mkdir()
    system.mkdir()
    ours, theirs = _fake_hyperfine(venv), _fake_hyperfine(system)
    monkeypatch.delenv("HYPERFINE", raising=False)
    monkeypatch.setenv("PATH", str(system))
    monkeypatch.setattr(sys, "executable", str(venv / "python"))
    assert find_hyperfine() == ours != theirs
    monkeypatch.setenv("HYPERFINE", str(theirs))
    assert find_hyperfine() == theirs  # HYPERFINE= still wins


def test_hyperfine_beside_the_python_executable_is_found(tmp_path, monkeypatch):
    fake = _fake_hyperfine(tmp_path)
    monkeypatch.delenv("HYPERFINE", raising=False)
    monkeypatch.setenv("PATH", os.devnull)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert find_hyperfine() == fake
