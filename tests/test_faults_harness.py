"""Fault injection on the harness: a damaged results folder, bad exports, concurrent runs.

Each case asserts the exit status, one stderr line without a traceback, and that what was
measured is still there and still renders. (Signals while measuring: test_cli.py; the
contenders' own faults: test_faults_contenders.py.)
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FAKES_FILE, HYPERFINES, ROOT, run_args

from harness.__main__ import main

MINI = Path(__file__).resolve().parent.parent / "harness" / "preparation" / "data" / "mnist-mini"


def _report(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["report", str(folder), "--quiet", "--recompute"])
    return code, capsys.readouterr().err


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def test_a_truncated_model_marks_its_evaluator_row_and_the_report_renders(folder, capsys):
    model = folder / "models" / "fake-ok" / "seed-1" / "round-001.safetensors"
    _truncate(model)
    code, err = _report(folder, capsys)
    assert code == 0 and "Traceback" not in err
    rows = {(r["contender"], r["model"]): r for r in _rows(folder / "tables" / "evaluator.csv")}
    assert rows[("fake-ok", str(model.relative_to(folder)))]["note"] == (
        f"{model}: not a safetensors file (100 bytes)"
    )
    assert all(r["agrees"] == "True" for (c, _), r in rows.items() if c == "python-numpy")
    runs = [r for r in _rows(folder / "tables" / "runs.csv") if r["check"]]
    assert [(r["contender"], r["round"], r["check"]) for r in runs] == [
        ("fake-ok", "1", "model_unreadable")
    ]  # that run is not vouched for; the others still are
    assert "not a safetensors file" in (folder / "report.html").read_text()


def test_a_deleted_spec_marks_the_evaluator_rows_and_the_report_renders(folder, capsys):
    (folder / "spec.json").unlink()
    code, err = _report(folder, capsys)
    assert code == 0 and "Traceback" not in err
    notes = {r["note"] for r in _rows(folder / "tables" / "evaluator.csv")}
    assert notes == {f"{folder / 'spec.json'}: not found"}
    assert not any(r["check"] for r in _rows(folder / "tables" / "runs.csv"))  # folder damage


def test_a_folder_copied_from_another_machine_still_finds_a_known_dataset(folder, capsys):
    spec = json.loads((folder / "spec.json").read_text())
    spec["dataset"] = {"name": "mnist-mini", "dir": "/elsewhere/mnist-mini"}
    (folder / "spec.json").write_text(json.dumps(spec))
    code, err = _report(folder, capsys)
    assert code == 0 and "Traceback" not in err
    rows = _rows(folder / "tables" / "evaluator.csv")
    assert all(r["evaluator_test_correct"] for r in rows)  # scored on the embedded copy


def test_a_metric_of_the_wrong_type_marks_that_run_invalid_with_file_and_line(folder, capsys):
    metrics = folder / "metrics" / "fake-ok" / "seed-1" / "round-001.jsonl"
    lines = metrics.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if '"end"' in line)
    end = json.loads(lines[number - 1])
    end["epochs"] = str(end["epochs"])
    lines[number - 1] = json.dumps(end)
    metrics.write_text("\n".join(lines) + "\n")
    code, err = _report(folder, capsys)
    assert code == 0 and "Traceback" not in err
    rows = [r for r in _rows(folder / "tables" / "runs.csv") if r["status"] == "invalid"]
    assert len(rows) == 1 and rows[0]["contender"] == "fake-ok"
    assert rows[0]["problem"] == (
        f'{metrics}:{number}: end event: epochs: expected integer, got "{end["epochs"]}"'
    )
    assert (folder / "report.html").is_file()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: _drop_key(f / "run.json", "contenders"), "run.json: missing key 'contenders'"),
        (lambda f: (f / "run.json").write_text("{"), "run.json: not valid JSON (line 1"),
        (lambda f: (f / "outcome.json").write_text("[]"), "outcome.json: expected a JSON object"),
    ],
)
def test_a_broken_manifest_gives_one_line_and_exit_2(
    folder: Path, capsys, damage: Callable[[Path], object], message: str
) -> None:
    damage(folder)
    code, err = _report(folder, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err


def _drop_key(path: Path, key: str) -> None:
    data = json.loads(path.read_text())
    del data[key]
    path.write_text(json.dumps(data))


def test_an_export_without_results_is_refused_before_any_folder_is_made(tmp_path, capsys):
    empty = tmp_path / "empty.json"
    empty.write_text('{"results": []}')
    out = tmp_path / "report"
    assert main(["report", "--hyperfine-json", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {empty}: a hyperfine export without results (nothing was timed)\n"
    assert not out.exists()


def test_an_unwritable_results_root_gives_one_line(tmp_path, tiny_data, fakes, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = run_args(blocker / "results", tiny_data, "fake-ok", "--skip-parity")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {blocker / 'results'}: cannot create the results folder")


def test_two_runs_at_once_get_their_own_folders_and_latest_is_a_finished_one(tmp_path, tiny_data):
    env = {**os.environ, "HARNESS_CONTENDERS_FILE": str(FAKES_FILE),
           "HYPERFINE": str(HYPERFINES["2.0"])}  # fmt: skip
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness",
                *run_args(tmp_path, tiny_data, contenders, "--skip-parity", "--target", "0.01"),
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, contenders in (("good", "fake-ok"), ("bad", "fake-bad-input"))
    }
    codes = {name: proc.wait(timeout=120) for name, proc in procs.items()}
    assert codes == {"good": 0, "bad": 1}
    errors = {name: proc.stderr.read() for name, proc in procs.items()}
    assert all("Traceback" not in err for err in errors.values()), errors
    folders = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(folders) == 2 and all((p / "report.html").is_file() for p in folders)
    assert (tmp_path / "latest" / "report.html").is_file()
