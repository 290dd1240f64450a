"""Ingest stage: pairing hyperfine runs with metrics runs, bad files, the one evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.analysis import ingest
from harness.errors import HarnessError
from harness.measurement import measure
from harness.model.stream import read_stream
from harness.preparation import prepare


def _measured(tmp_path: Path, data: Path, names: list[str], runs: int, warmup: int) -> Path:
    """A results folder after prepare and measure."""
    options = prepare.RunOptions(
        data_dir=data, contenders=names, seeds=[1], runs=runs, warmup=warmup, target=0.01
    )
    prepare.prepare(prepare.plan(options), tmp_path, ["test"], log=lambda _: None)
    measure.measure(tmp_path, log=lambda _: None)
    return tmp_path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_warmup_runs_are_skipped_and_timed_runs_paired_in_order(
    tmp_path: Path, tiny_data: Path, fakes: Path, any_hyperfine: str
) -> None:
    run_dir = _measured(tmp_path, tiny_data, ["fake-ok"], runs=2, warmup=1)
    assert ingest.ingest(run_dir) == []
    runs = pd.read_csv(run_dir / "tables" / "runs.csv")
    folder = run_dir / "metrics" / "fake-ok" / "seed-1"
    run_ids = [json.loads(_lines(folder / f"round-00{r}.jsonl")[0])["run_id"] for r in (1, 2)]
    assert list(runs["run_id"]) == run_ids  # the warm-up's own file is not read
    assert list(runs["round"]) == [1, 2] and runs["started_at"].str.endswith("+00:00").all()
    assert list(runs["status"]) == ["reached_target", "reached_target"]
    startup = runs["wall_seconds"] - runs["metrics_wall_seconds"]
    assert runs["startup_seconds"].tolist() == pytest.approx(startup.tolist())
    epochs = pd.read_csv(run_dir / "tables" / "epochs.csv")
    assert len(epochs) == 2 and (epochs["elapsed_seconds"] > epochs["train_seconds"]).all()
    evaluator = pd.read_csv(run_dir / "tables" / "evaluator.csv")
    assert evaluator["agrees"].tolist() == [True, True]  # every timed run's own model


def test_a_count_mismatch_between_hyperfine_and_metrics_is_a_warning(
    tmp_path: Path, tiny_data: Path, fakes: Path, hyperfine2: None
) -> None:
    run_dir = _measured(tmp_path, tiny_data, ["fake-ok"], runs=2, warmup=0)
    metrics = run_dir / "metrics" / "fake-ok" / "seed-1" / "round-001.jsonl"
    first_id = json.loads(_lines(metrics)[0])["run_id"]
    metrics.write_text("")
    warnings = ingest.ingest(run_dir)
    assert any(f"no events of run {first_id} (round 1)" in w for w in warnings)
    # A folder measured before rounds: one hyperfine.json, one metrics file per seed that
    # every process appended to, paired in order.
    (run_dir / "measure.jsonl").unlink()
    legacy = run_dir / "metrics" / "fake-ok" / "seed-1.jsonl"
    legacy.write_text((metrics.parent / "round-002.jsonl").read_text())
    merged = json.loads((run_dir / "hyperfine.json").read_text())
    for result in merged["results"]:  # hyperfine substituted the seed as a parameter then
        result["parameters"] = {"seed": "1"}
    (run_dir / "hyperfine.json").write_text(json.dumps(merged))
    warnings = ingest.ingest(run_dir)
    assert any("1 runs in the metrics file, expected 0 warmup + 2 timed" in w for w in warnings)


def test_the_evaluator_flags_a_contender_whose_claimed_accuracy_is_wrong(
    tmp_path: Path, tiny_data: Path, fakes: Path, hyperfine2: None
) -> None:
    run_dir = _measured(tmp_path, tiny_data, ["fake-liar"], runs=1, warmup=0)
    warnings = ingest.ingest(run_dir)
    evaluator = pd.read_csv(run_dir / "tables" / "evaluator.csv")
    assert evaluator["agrees"].tolist() == [False]
    assert evaluator["claimed_test_correct"].tolist() == [200]
    assert evaluator["evaluator_test_correct"].iloc[0] < 200
    assert any("fake-liar seed 1: claimed 200 correct" in w for w in warnings)


def test_a_malformed_metrics_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "seed-1.jsonl"
    path.write_text('{"event": "start", "run_id": "a"}\n{"event": "epo\n{"event": "end"}\n')
    with pytest.raises(HarnessError, match=r"seed-1.jsonl:2: not valid JSON \(column"):
        read_stream(path, strict=True)


def test_an_unknown_metrics_event_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seed-1.jsonl"
    path.write_text('{"event": "start", "run_id": "a"}\n{"event": "lap", "run_id": "a"}\n')
    with pytest.raises(HarnessError, match=r'seed-1.jsonl:2: unknown event "lap"'):
        read_stream(path, strict=True)


def test_a_partial_last_line_from_a_killed_process_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "seed-1.jsonl"
    path.write_text('{"event": "start", "run_id": "a"}\n{"event": "ep')
    (run,) = read_stream(path, strict=True).processes
    assert run.start is not None and run.end is None
