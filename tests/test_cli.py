"""The command line: help, bad input as one line, failures, Ctrl-C, escaping in the HTML."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAKES_FILE, HYPERFINES, ROOT, run_args

from harness.__main__ import COMMANDS, main
from harness.model.records import read_json


@pytest.mark.parametrize("command", [*COMMANDS, "data fetch"])
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"])
    assert exit_info.value.code == 0
    assert "usage: harness" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seeds", "one"], "error: --seeds: expected integers >= 0 separated by commas"),
        (["--runs", "0"], "error: --runs: expected integers >= 1"),
        (["--threads", "0"], "error: --threads: expected integers in [1, 1024]"),
        (["--contenders", "cobol"], "error: --contenders: unknown contender 'cobol'"),
        (["--data-dir", "/nonexistent"], "error: /nonexistent: not a directory"),
        (["--data-dir", ""], "error: .: missing train-images-idx3-ubyte"),
        (["--dataset", "bogus"], 'error: unknown dataset "bogus"'),
        (["--target", "5"], "error: --target: expected a number in (0, 1], got 5.0"),
        (["--cpus", "7-9"], "error: --cpus: expected CPU numbers like 0,1 or 0-3"),
        (["--max-time", "60"], "error: --max-time: only with --precision"),
    ],
)
def test_bad_run_flags_give_one_line_exit_2_and_create_nothing(
    tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results"
    assert main(["run", "--out", str(out), "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not out.exists()  # no empty results folder, and `latest` untouched


def test_a_run_with_a_failing_contender_reports_it_and_exits_1(
    tmp_path: Path, tiny_data: Path, fakes: Path, hyperfine2: None
) -> None:
    argv = run_args(tmp_path, tiny_data, "fake-ok,fake-diverge", "--skip-parity")
    assert main([*argv, "--target", "0.01"]) == 1
    latest = tmp_path / "latest"
    outcome = read_json(latest / "outcome.json")
    assert outcome["outcomes"]["fake-diverge"]["status"] == "failed"
    assert outcome["parity_status"] == "skipped" and outcome["started"]
    html = (latest / "report.html").read_text()
    assert "fake-diverge" in html and "training diverged" in html


def test_report_right_after_a_run_recomputes_nothing(
    tmp_path: Path,
    tiny_data: Path,
    fakes: Path,
    hyperfine2: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = run_args(tmp_path, tiny_data, "fake-ok", "--skip-parity")
    assert main([*argv, "--target", "0.01"]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "latest")]) == 0
    stages = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(stages) == 4
    assert all(line.endswith("up to date") for line in stages[:3]), stages


def test_a_wrong_contender_fails_parity_and_the_report_shows_it(
    tmp_path: Path, tiny_data: Path, fakes: Path, hyperfine2: None
) -> None:
    argv = run_args(tmp_path, tiny_data, "python-numpy,fake-perturb", "--max-epochs", "1")
    assert main([*argv, "--target", "0.01"]) == 1
    parity = read_json(tmp_path / "latest" / "parity.json")
    assert parity["status"] == "failed" and parity["steps"] == 3
    assert "fake-perturb" in (tmp_path / "latest" / "report.html").read_text()


def test_a_script_tag_in_a_data_path_is_escaped_in_the_report(
    tmp_path: Path, tiny_data: Path, fakes: Path, hyperfine2: None
) -> None:
    evil = tmp_path / "<script>alert(1)<" / "script>"  # the path reads <script>...</script>
    evil.mkdir(parents=True)
    for f in tiny_data.iterdir():
        (evil / f.name).write_bytes(f.read_bytes())
    argv = run_args(tmp_path / "out", evil, "fake-ok", "--skip-parity", "--target", "0.01")
    assert main(argv) == 0
    html = (tmp_path / "out" / "latest" / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_malformed_hyperfine_export_gives_one_line(
    tmp_path: Path, tiny_data: Path, fakes: Path, hyperfine2: None, capsys
) -> None:
    assert main(run_args(tmp_path, tiny_data, "fake-ok", "--skip-parity", "--target", "0.01")) == 0
    run_dir = (tmp_path / "latest").resolve()
    (run_dir / "hyperfine" / "round-001-fake-ok-seed-1.json").write_text('{"results": [')
    capsys.readouterr()  # one damaged process export: that run is left out, with a warning
    assert main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "round-001-fake-ok-seed-1.json: not valid JSON" in out and "left out" in out
    (run_dir / "measure.jsonl").unlink()  # a folder from before rounds: its one export
    (run_dir / "hyperfine.json").write_text('{"results": [')
    assert main(["report", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run_dir / 'hyperfine.json'}: not valid JSON")
    assert err.count("\n") == 1
    (run_dir / "hyperfine.json").write_text(json.dumps({"schema_version": 9, "results": []}))
    assert main(["report", str(run_dir), "--quiet"]) == 2
    assert "unknown hyperfine schema_version 9" in capsys.readouterr().err


def _as_at_a_terminal() -> None:
    """SIGINT as a command started at a terminal gets it: a job started in the background by a
    shell without job control (a CI runner's, say) inherits SIGINT ignored, and Python then
    leaves it ignored, like any program (the harness keeps that choice)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_during_measure_keeps_every_finished_run_and_report_renders_them(
    tmp_path: Path, tiny_data: Path, sig: signal.Signals
) -> None:
    env = {**os.environ, "HARNESS_CONTENDERS_FILE": str(FAKES_FILE),
           "HYPERFINE": str(HYPERFINES["2.0"])}  # fmt: skip
    argv = run_args(tmp_path, tiny_data, "fake-ok,fake-slow", "--skip-parity", "--target", "0.01")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *argv, "--runs", "8"],  # rounds to spare after 2
        cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True,
        preexec_fn=_as_at_a_terminal,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    # Wait until a round has finished and fake-slow runs again (its second timed process).
    while len(list(tmp_path.glob("*/hyperfine/round-002-*"))) == 0:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C at a terminal reaches the whole process group
    else:
        proc.send_signal(sig)  # SIGTERM from a supervisor reaches the harness alone
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: partial results kept" in err
    assert not (tmp_path / "latest").exists()  # only a run with a report becomes latest
    (run_dir,) = tmp_path.glob("*/hyperfine")
    run_dir = run_dir.parent
    sizes = [p.stat().st_size for p in sorted(run_dir.glob("metrics/*/*.jsonl"))]
    time.sleep(2)  # hyperfine and the contender it ran were stopped with the harness
    assert [p.stat().st_size for p in sorted(run_dir.glob("metrics/*/*.jsonl"))] == sizes
    assert read_json(run_dir / "outcome.json")["interrupted"] is True
    assert main(["report", str(run_dir), "--quiet"]) == 0
    runs = (run_dir / "tables" / "runs.csv").read_text().splitlines()
    assert len(runs) >= 1 + 2  # the header and round 1's two processes: nothing finished lost
    assert "fake-ok" in (run_dir / "report.html").read_text()


def test_env_lists_tools_with_versions(capsys: pytest.CaptureFixture[str]) -> None:
    main(["env"])
    out = capsys.readouterr().out
    assert "python" in out and "hyperfine" in out and "numpy" in out


def test_your_own_contender_from_a_contenders_file_runs_end_to_end(
    tmp_path: Path, tiny_data: Path, hyperfine2: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "HARNESS_CONTENDERS_FILE" not in os.environ
    mine = tmp_path / "mine.json"  # a program of one's own: here the NumPy reference again,
    # declared a Python framework so that the 2x2 gets a row with both approaches
    entry = {"name": "my-mlp", "implementation": "mine", "algorithm": "batched",
             "language": "Python", "approach": "framework",
             "program": ["{python}", "-m", "python_impl"]}  # fmt: skip
    mine.write_text(json.dumps({"schema_version": 1, "contenders": [entry]}))
    own = ["--contenders-file", str(mine)]
    argv = run_args(tmp_path, tiny_data, "python-numpy,my-mlp", "--target", "0.01", *own)
    assert main(argv) == 0
    latest = tmp_path / "latest"
    assert read_json(latest / "parity.json")["status"] == "passed"
    report = (latest / "report.html").read_text()
    assert "my-mlp" in report and "whole run: " in report  # the library ratio of the 2x2
    verify = ["verify", "--data-dir", str(tiny_data), "--contenders", "python-numpy,my-mlp"]
    assert main([*verify, *own]) == 0
    assert "parity passed" in capsys.readouterr().out
