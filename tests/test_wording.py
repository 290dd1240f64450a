"""The report's words: sentences and number formats from analysis.json's numbers and codes."""

import subprocess
import sys
from dataclasses import replace

import pytest
from data.results_factory import DEFAULT_CONTENDERS, FakeContender, FakeRun, write_results

from harness.analysis.analyze import analyze
from harness.model import codec
from harness.model.analysis import Measuring, Noise, Note, read_analysis
from harness.model.evidence import MismatchCause
from harness.presentation import formats, wording


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    folder = write_results(tmp_path_factory.mktemp("w") / "run")
    analyze(folder)
    return read_analysis(folder)


def _cmp(analysis, **fields):
    return replace(analysis.comparisons[0], **fields)


def test_a_faster_headline_names_threads_ratio_ci_p_and_seconds_per_epoch(analysis):
    text = wording.headline(analysis)
    c = analysis.comparisons[0]
    assert text.startswith(
        f"rust (1 thread) is {c.ratio:.2f}x faster than python-numpy (1 thread) "
        f"(95 % CI {c.ci_low:.2f}-{c.ci_high:.2f}, p < 0.001); seconds per epoch: "
    )


def test_each_verdict_has_its_own_sentence(analysis):
    slower = _cmp(analysis, ratio=0.8, ci_low=0.75, ci_high=0.85, p_value=0.01, verdict="slower")
    assert wording.comparison(slower, analysis) == (
        "rust (1 thread) is 1.25x slower than python-numpy (1 thread) "
        "(95 % CI 1.18-1.33, p = 0.010)"
    )
    equal = _cmp(analysis, ratio=1.0, ci_low=0.98, ci_high=1.02, p_value=0.7, verdict="equivalent")
    assert wording.comparison(equal, analysis) == (
        "rust (1 thread) and python-numpy (1 thread) are equivalent: ratio 1.00 "
        "(95 % CI 0.98-1.02 lies within 0.95-1.05, p = 0.700)"
    )
    wide = _cmp(analysis, ratio=1.1, ci_low=0.9, ci_high=1.3, p_value=0.3, verdict="inconclusive")
    text = wording.comparison(wide, analysis)
    assert "inconclusive" in text and "holds 1 but reaches outside 0.95-1.05" in text
    assert "faster" not in text and "no difference" not in text
    one = _cmp(analysis, ratio=1.2, ci_low=None, ci_high=None, n=1, verdict="inconclusive")
    assert "from 1 pair, too few for a confidence interval" in wording.comparison(one, analysis)
    empty = _cmp(analysis, ratio=None, verdict=None)
    assert wording.comparison(empty, analysis).endswith("no comparable runs")


def test_the_why_sentence_names_the_parts_that_differ_and_the_sgemm_fractions(analysis):
    text = wording.why(analysis.comparisons[0], analysis)
    rows = {c.name: c for c in analysis.contenders}
    saved = analysis.comparisons[0].saved
    assert text.startswith(f"Where the difference comes from ({saved.total:.2f} s less per run):")
    assert f"{saved.train:.2f} s less training" in text
    assert f"{saved.outside:.2f} s less outside main (start-up, save, exit)" in text
    assert (
        f"training at {formats.pct(rows['rust'].sgemm_fraction)} vs "
        f"{formats.pct(rows['python-numpy'].sgemm_fraction)} of this machine's sgemm rate"
    ) in text


def test_warnings_mismatches_and_p_values_in_words():
    assert wording.warning(Note(code="few_runs", runs=6, minimum=10)) == (
        "only 6 timed runs (fewer than 10): estimates are rough"
    )
    assert "stddev is 12 % of the mean" in wording.warning(
        Note(code="unstable", cv=0.12, threshold=0.1)
    )
    assert wording.warning(Note(code="outliers", count=1, iqr_factor=1.5)).startswith("1 out")
    cause = {"low": 20, "high": 21, "target": 0.9, "code": "rounding", "accuracy": 0.8996}
    assert wording.mismatch(MismatchCause(**cause, epoch=20)) == (
        "20 vs 21 epochs: float rounding at the threshold (accuracy 0.8996 at epoch 20, target 0.9)"
    )
    assert formats.p_text(0.0004) == "p < 0.001" and formats.p_text(0.0234) == "p = 0.023"
    assert formats.num(12345.6) == "12,346" and formats.num(0.012345) == "0.01235"
    assert formats.num(None) == "n/a" and formats.pct(0.912) == "91 %"


def test_precision_lines_say_how_measuring_stopped(analysis):
    m = {"rounds_done": 7, "precision_target": 0.02, "precision_reached": 0.018}
    m = {**m, "interrupted": False, "rounds_requested": 0}
    a = replace(analysis, measuring=Measuring(**m, stop_reason="precision"))
    assert wording.precision(a) == (
        "Stopped after 7 rounds: precision ±2.0 % reached (±1.8 % the widest CI)."
    )
    a = replace(
        analysis, measuring=Measuring(**{**m, "stop_reason": "time", "precision_reached": 0.041})
    )
    assert (
        wording.precision(a)
        == "Time budget spent after 7 rounds; precision reached ±4.1 % (aim ±2.0 %)."
    )


def test_noise_lines_warn_about_other_processes_and_slow_rounds(analysis):
    noise = {
        "busy": True, "other_share": 0.23, "busy_threshold": 0.1, "slow_round_factor": 1.1,
        "busiest": [{"pid": 7, "name": "cargo", "cpu_seconds": 12.5, "share": 0.15}],
        "slow_rounds": [2, 5], "load_before": None, "load_after": None, "governor": None,
        "note": None,
    }  # fmt: skip
    lines = wording.noise(replace(analysis, noise=codec.decode(Noise, noise, "noise")))
    assert lines[0].startswith("Other processes used 23 % of a core while measuring")
    assert "busiest: cargo (pid 7, 12.5 s CPU, 15 %)" in lines[0]
    assert lines[1].startswith("Rounds 2, 5: every contender took more than 1.10x its median")
    quiet = {**noise, "busy": False, "slow_rounds": []}
    assert wording.noise(replace(analysis, noise=codec.decode(Noise, quiet, "noise"))) == []


def test_markdown_escaping_leaves_no_tag_link_or_table_break():
    text = formats.md("<script>alert(1)</script> [x](http://e) a|b *c* p < 0.001 &amp;")
    assert "<script" not in text and "</script" not in text
    assert "\\[x\\](http://e)" in text and "a\\|b" in text and "\\*c\\*" in text
    assert "p < 0.001" in text and "&amp;amp;" in text


def test_the_report_modules_load_no_numpy_pandas_scipy_or_matplotlib():
    code = (
        "import sys, harness.presentation.report, harness.presentation.wording; "
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_headline_without_a_same_thread_reference_points_to_the_cross_thread_table(tmp_path):
    two = FakeContender("rust@2", "rust", threads=2)
    folder = write_results(tmp_path / "run", FakeRun(contenders=(DEFAULT_CONTENDERS[0], two)))
    analyze(folder)
    assert "cross-thread table" in wording.headline(read_analysis(folder))


def test_a_fraction_above_the_measured_sgemm_rate_is_pointed_out(analysis):
    assert wording.floor_notes(analysis) == []
    rows = [replace(c, sgemm_fraction=2.98) if c.name == "rust" else c for c in analysis.contenders]
    (note,) = wording.floor_notes(replace(analysis, contenders=rows))
    assert (
        note.startswith("Training faster than the sgemm rate prepare measured")
        and "rust (298 %)" in note
    )
