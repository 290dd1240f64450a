"""Measure stage: the hyperfine command line, both hyperfine versions, every failure mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.measurement import measure
from harness.model.records import ContenderEntry, Manifest, read_json
from harness.preparation import prepare


def _prepared(tmp_path: Path, data: Path, names: list[str], runs: int = 1) -> Path:
    """A results folder after prepare, for the given contenders."""
    options = prepare.RunOptions(
        data_dir=data, contenders=names, seeds=[1], runs=runs, warmup=0, target=0.01
    )
    prepare.prepare(prepare.plan(options), tmp_path, ["test"], log=lambda _: None)
    return tmp_path


def _manifest(shuffle_seed: int) -> Manifest:
    entries = [
        ContenderEntry("a", ["prog", "--init", "/d {seed}/seed-{seed}.st", "--save-model", "m"]),
        ContenderEntry("b", ["other"]),
    ]
    return Manifest(entries, "a", "test", seeds=[1, 2], runs=3, shuffle_seed=shuffle_seed)


def test_hyperfine_times_one_process_with_the_seed_and_its_own_files_filled_in() -> None:
    job = measure.Job(_manifest(0).contenders[0], seed=2, round=3, warmup=False)
    argv = measure.hyperfine_argv("hyperfine", job, Path("/out"))
    assert argv[:3] == ["hyperfine", "-N", "--ignore-failure"]
    assert argv[argv.index("--runs") + 1] == "1"
    assert "-L" not in argv  # the command is literal: no hyperfine parameter to substitute
    assert argv[argv.index("-n") + 1] == "a"
    assert argv[argv.index("--export-json") + 1] == "/out/hyperfine/round-003-a-seed-2.json"
    assert argv[-1] == "prog --init /out/init/seed-2.safetensors --save-model " + (
        "/out/models/a/seed-2/round-003.safetensors"
    )  # the seed's own init and model, set by flag: braces elsewhere stay as they are
    assert job.metrics == "metrics/a/seed-2/round-003.jsonl"
    assert job.model == "models/a/seed-2/round-003.safetensors"


def test_each_round_runs_every_contender_and_seed_once_in_a_recorded_shuffled_order() -> None:
    orders = []
    for number in (1, 2, 3):
        jobs = measure.schedule(_manifest(7), number, warmup=False)
        assert sorted((j.contender.name, j.seed) for j in jobs) == [
            ("a", 1), ("a", 2), ("b", 1), ("b", 2)
        ]  # fmt: skip
        orders.append([(j.contender.name, j.seed) for j in jobs])
        again = measure.schedule(_manifest(7), number, warmup=False)
        assert [(j.contender.name, j.seed) for j in again] == orders[-1]  # reproducible
    assert len({tuple(o) for o in orders}) > 1  # shuffled per round


def test_every_contender_is_timed_with_either_hyperfine_version(
    tmp_path: Path, tiny_data: Path, fakes: Path, any_hyperfine: str
) -> None:
    run_dir = _prepared(tmp_path, tiny_data, ["fake-ok", "fake-miss"], runs=2)
    assert measure.measure(run_dir, log=lambda _: None) is False
    run = read_json(run_dir / "outcome.json")
    assert run["outcomes"]["fake-ok"]["status"] == "ok"
    miss = run["outcomes"]["fake-miss"]
    assert miss["status"] == "failed" and miss["failures"][0]["exit_codes"] == [1, 1]
    assert miss["failures"][0]["reason"] == "target not reached"
    files = sorted((run_dir / "metrics" / "fake-ok" / "seed-1").glob("*.jsonl"))
    assert [f.name for f in files] == ["round-001.jsonl", "round-002.jsonl"]
    for f in files:  # each process its own file: one start event each, this run's nonce
        (start,) = [json.loads(line) for line in f.read_text().splitlines()][:1]
        assert start["event"] == "start" and len(start["nonce"]) == 32


@pytest.mark.parametrize(
    ("fake", "code", "reason", "stderr_says"),
    [
        ("fake-miss", 1, "target not reached", ""),
        ("fake-bad-input", 2, "bad input", "batch_size: expected a positive integer"),
        ("fake-diverge", 3, "diverged", "training diverged"),
        ("fake-crash", 1, "crashed (exit 1 without a max_epochs end event)", "RuntimeError"),
        ("fake-signal", None, "crashed", ""),
    ],
)
def test_a_failing_contender_is_marked_failed_with_its_exit_code_and_stderr_tail(
    tmp_path: Path,
    tiny_data: Path,
    fakes: Path,
    hyperfine2: None,
    fake: str,
    code: int | None,
    reason: str,
    stderr_says: str,
) -> None:
    run_dir = _prepared(tmp_path, tiny_data, ["fake-ok", fake])
    assert measure.measure(run_dir, log=lambda _: None) is False
    outcomes = read_json(run_dir / "outcome.json")["outcomes"]
    assert outcomes["fake-ok"]["status"] == "ok"
    (failure,) = outcomes[fake]["failures"]
    if code is not None:
        assert failure["exit_codes"] == [code] and failure["rerun_exit_code"] == code
    assert failure["reason"].startswith(reason)
    assert stderr_says in failure["stderr_tail"]
    assert stderr_says in (run_dir / failure["stderr_file"]).read_text()


def test_a_rerun_for_stderr_does_not_touch_the_timed_metrics(
    tmp_path: Path, tiny_data: Path, fakes: Path, hyperfine2: None
) -> None:
    run_dir = _prepared(tmp_path, tiny_data, ["fake-miss"], runs=2)
    measure.measure(run_dir, log=lambda _: None)
    files = sorted((run_dir / "metrics" / "fake-miss" / "seed-1").glob("round-*.jsonl"))
    metrics = "".join(f.read_text() for f in files)
    assert metrics.count('"event": "start"') == 2  # the two timed runs, not the re-run
