"""Figures of a results folder: PNG and SVG files per applicable plot."""

from pathlib import Path

from data.results_factory import (
    FakeContender,
    FakeRun,
    report_from_exports,
    write_results,
)

from harness.analysis.analyze import analyze
from harness.model.tables import RunRecord, write_rows
from harness.presentation.plot import plot
from harness.presentation.wording import FIGURES


def _names(folder):
    return sorted(p.stem for p in (folder / "plots").glob("*.png"))


def test_a_full_run_gets_every_figure_but_thread_scaling_in_png_and_svg(tmp_path):
    """Including the why figure (GFLOP/s, sgemm fraction) and the five-part breakdown."""
    folder = write_results(tmp_path / "run")
    analyze(folder)
    plot(folder)
    assert _names(folder) == sorted(set(FIGURES) - {"thread_scaling"})
    for name in _names(folder):
        png = (folder / "plots" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG")
        svg = (folder / "plots" / f"{name}.svg").read_text()
        assert "<svg" in svg
    assert "wall time per run (s)" in (folder / "plots" / "time_distribution.svg").read_text()


def test_several_thread_counts_add_the_scaling_plot(tmp_path):
    contenders = (FakeContender("rust", "rust"), FakeContender("rust-2t", "rust", threads=2))
    folder = write_results(tmp_path / "run", FakeRun(contenders=contenders))
    analyze(folder)
    plot(folder)
    assert "thread_scaling" in _names(folder)


def test_hyperfine_only_input_draws_only_what_hyperfine_measured(tmp_path):
    export = Path(__file__).parent / "data" / "hyperfine-v2" / "two-commands.json"
    report_from_exports([export], tmp_path / "out")
    assert _names(tmp_path / "out") == ["memory", "time_distribution"]


def test_a_folder_without_floor_data_has_no_why_figure(tmp_path):
    folder = write_results(tmp_path / "run", FakeRun(floor=False))
    analyze(folder)
    plot(folder)
    assert "why" not in _names(folder) and "breakdown" in _names(folder)


def test_a_folder_without_timed_runs_plots_without_warnings(tmp_path, capfd):
    folder = write_results(tmp_path / "run")
    write_rows(folder / "tables" / "runs.csv", RunRecord, [])
    (folder / "tables" / "epochs.csv").write_text("contender\n")
    analyze(folder)
    plot(folder)
    err = capfd.readouterr().err
    assert "Warning" not in err, err
    assert _names(folder) == []
