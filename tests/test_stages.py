"""`report DIR` reruns a derived stage (ingest, analyze, plot) only when its files or the
harness changed since it last ran, and always re-renders the report itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import stages
from harness.__main__ import main

DATA = Path(__file__).parent / "data"
MINI = Path(__file__).resolve().parent.parent / "harness" / "preparation" / "data" / "mnist-mini"


def _report(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, bool]:
    """Run `report ARGS`; for each derived stage, True when it ran, False when up to date."""
    assert main(["report", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    ran = {}
    for stage in ("ingest", "analyze", "plot"):
        line = next(x for x in lines if f"] {stage}: " in x)
        ran[stage] = not line.endswith("up to date")
    return ran


@pytest.fixture
def folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A reported copy of the checked-in real results folder (tests/data/example-run)."""
    run_dir = tmp_path / "run"
    shutil.copytree(DATA / "example-run", run_dir)
    spec = json.loads((run_dir / "spec.json").read_text())
    spec["dataset"]["dir"] = str(MINI)
    (run_dir / "spec.json").write_text(json.dumps(spec, indent=2))
    assert _report([str(run_dir)], capsys) == {"ingest": True, "analyze": True, "plot": True}
    return run_dir


def test_an_unchanged_folder_is_re_rendered_without_recomputing_a_stage(folder, capsys):
    analysis = (folder / "analysis.json").read_bytes()
    (folder / "report.html").unlink()
    assert _report([str(folder)], capsys) == {"ingest": False, "analyze": False, "plot": False}
    assert (folder / "report.html").is_file()
    assert (folder / "analysis.json").read_bytes() == analysis


def test_an_edited_input_reruns_its_stage_and_the_stages_reading_what_it_wrote(folder, capsys):
    export = json.loads((folder / "hyperfine.json").read_text())
    export["results"][0]["measurements"][0]["time_wall_clock"]["value"] *= 2
    (folder / "hyperfine.json").write_text(json.dumps(export))
    assert _report([str(folder)], capsys) == {"ingest": True, "analyze": True, "plot": True}


def test_an_input_of_analyze_alone_leaves_ingest_as_it_was(folder, capsys):
    parity = json.loads((folder / "parity.json").read_text())
    parity["status"] = "failed"
    (folder / "parity.json").write_text(json.dumps(parity))
    ran = _report([str(folder)], capsys)
    assert ran["ingest"] is False and ran["analyze"] is True
    assert json.loads((folder / "analysis.json").read_text())["fairness"]["parity"]["status"] == (
        "failed"
    )


def test_a_deleted_figure_is_drawn_again(folder, capsys):
    (folder / "plots" / "accuracy.png").unlink()
    assert _report([str(folder)], capsys) == {"ingest": False, "analyze": False, "plot": True}
    assert (folder / "plots" / "accuracy.png").is_file()


def test_recompute_reruns_every_stage(folder, capsys):
    ran = _report([str(folder), "--recompute"], capsys)
    assert ran == {"ingest": True, "analyze": True, "plot": True}


def test_a_changed_harness_or_library_reruns_every_stage(folder, capsys, monkeypatch):
    monkeypatch.setattr(stages, "_code_digest", lambda: b"another harness version")
    assert _report([str(folder)], capsys) == {"ingest": True, "analyze": True, "plot": True}


def test_a_hyperfine_only_folder_re_renders_with_report_dir(tmp_path, capsys):
    files = [str(DATA / "hyperfine-v1" / f) for f in ("py_results.json", "rust_results.json")]
    out = tmp_path / "out"
    _report(["--hyperfine-json", *files, "--out", str(out)], capsys)
    summary = (out / "tables" / "summary.csv").read_text()
    assert len(summary.splitlines()) == 3  # a header and one row per export
    assert _report([str(out), "--recompute"], capsys) == {
        "ingest": True,
        "analyze": True,
        "plot": True,
    }
    assert (out / "tables" / "summary.csv").read_text() == summary


def test_hyperfine_exports_never_overwrite_a_run_folder(folder, capsys):
    run = (folder / "run.json").read_bytes()
    export = str(DATA / "hyperfine-v1" / "parallel.json")
    assert main(["report", "--hyperfine-json", export, "--out", str(folder)]) == 2
    assert "holds the results of a harness run; choose another --out" in capsys.readouterr().err
    assert (folder / "run.json").read_bytes() == run
