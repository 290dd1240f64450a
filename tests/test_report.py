"""The self-contained HTML report and summary.md."""

import html
import json
import re
from pathlib import Path

import pytest
from data.results_factory import (
    DEFAULT_CONTENDERS,
    FakeContender,
    FakeRun,
    report_from_exports,
    report_from_tables,
    write_results,
)

DATA = Path(__file__).parent / "data"


def _table_row(page: str, name: str, table_id: str = "summary-table") -> str:
    """One contender's row of a table (the summary by default), tags stripped."""
    table = page.split(f'id="{table_id}"')[1].split("</table>")[0]
    row = next(r for r in table.split("<tr") if f'class="text">{name}<' in r)
    return re.sub(r"<[^>]+>", " ", row)


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """The original comparison's schema-1 files rendered as one report."""
    out = tmp_path_factory.mktemp("v1")
    files = [DATA / "hyperfine-v1" / f for f in ("py_results.json", "rust_results.json")]
    files.append(DATA / "hyperfine-v1" / "parallel.json")
    return report_from_exports(files, out).read_text()


def test_original_comparison_table_shows_hyperfine_means_and_medians(original):
    for name, mean, median in [
        ("py_results", "193.5", "192.4"),
        ("rust_results", "102.5", "106.7"),
        ("parallel", "9.117", "9.074"),
    ]:
        cells = _table_row(original, name, "stats-table").split()
        assert mean in cells and median in cells, (name, cells)


def test_original_comparison_headline_and_missing_metrics_note(original):
    assert re.search(r"parallel is 2\d\.\d\dx faster than py_results \(95 % CI", original)
    assert re.search(r"rust_results is 1\.\d\dx faster than py_results", original)
    assert "Hyperfine-only input: no metrics stream" in original
    assert "independent samples (Welch&#39;s t on log times)" in original


@pytest.mark.parametrize("name", ["two-commands", "parameter-list", "ignore-failure"])
def test_schema_2_exports_render_with_their_medians(tmp_path, name):
    path = DATA / "hyperfine-v2" / f"{name}.json"
    page = report_from_exports([path], tmp_path).read_text()
    first = json.loads(path.read_text())["results"][0]
    median = first["summary"]["time_wall_clock"]["median"]
    assert f"{median:.4g}" in _table_row(page, html.escape(first["command"])).split()


def test_failing_command_in_hyperfine_only_input_is_marked_failed(tmp_path):
    page = report_from_exports([DATA / "hyperfine-v2" / "ignore-failure.json"], tmp_path)
    text = page.read_text()
    assert "Failed contenders" in text and "exit code 1" in text


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A synthetic run with a failed contender and a hostile command line."""
    broken = FakeContender("rust-broken", "rust", fail=True)
    fake = FakeRun(
        contenders=(*DEFAULT_CONTENDERS, broken),
        command='python -m harness run --note "<script>alert(1)</script>"',
        dataset="<script>alert(2)</script>",
        evaluator_disagrees="rust",
        invalid={"rust-2-1": "metrics/rust/seed-2.jsonl:9: end event: status: expected one of"},
        outcome={
            "noise": {
                "other_share": 0.31,
                "load_before": [1.5, 1.0, 0.5],
                "busiest": [{"pid": 9, "name": "<i>cargo</i>", "cpu_seconds": 40.0, "share": 0.3}],
            },
            "stop_reason": "time",
            "rounds_done": 3,
        },
    )
    folder = write_results(tmp_path_factory.mktemp("full") / "run", fake)
    return folder, report_from_tables(folder).read_text()


def test_report_headline_mentions_ratio_ci_p_and_seconds_per_epoch(full):
    _, page = full
    headline = page.split('class="headline">')[1].split("</p>")[0]
    assert re.search(
        r"rust \(1 thread\) is \d\.\d\dx faster than python-numpy \(1 thread\) "
        r"\(95 % CI [\d.]+-[\d.]+",
        headline,
    )
    assert "seconds per epoch" in headline


def test_cross_thread_ratios_sit_in_their_own_labelled_table(tmp_path):
    contenders = (*DEFAULT_CONTENDERS, FakeContender("rust@2", "rust", threads=2, train=0.02))
    folder = write_results(tmp_path / "run", FakeRun(contenders=contenders))
    page = report_from_tables(folder).read_text()
    headline = page.split('class="headline">')[1].split('id="summary"')[0]
    assert "2 threads" not in headline
    cross = page.split('id="cross-thread"')[1].split("</table>")[0]
    assert "Cross-thread ratios (unequal resources)" in cross
    assert "rust@2" in cross and "python-numpy" in cross
    md = (folder / "summary.md").read_text()
    assert "Cross-thread ratios" in md.split("| contender")[1]


def test_everything_placed_in_html_is_escaped(full):
    _, page = full
    assert "<script>" not in page and "<i>cargo" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_summary_md_escapes_user_provided_strings(full):
    folder, _ = full
    text = (folder / "summary.md").read_text()
    assert "<script" not in text and "</script" not in text and "<i>" not in text
    assert "&lt;script>alert(2)&lt;/script>" in text


def test_an_invalid_run_is_shown_with_its_problem_and_left_out(full):
    folder, page = full
    invalid = page.split('id="invalid"')[1].split("</table>")[0]
    assert "metrics/rust/seed-2.jsonl:9: end event" in invalid
    assert "9 (1 invalid)" in _table_row(page, "rust", "stats-table")
    assert "metrics/rust/seed-2.jsonl:9" in (folder / "summary.md").read_text()


def test_noise_and_precision_are_reported(full):
    _, page = full
    assert "Other processes used 31 % of a core while measuring" in page
    noise = page.split('id="noise"')[1].split("</table>")[0]
    assert "1.50, 1.00, 0.50" in noise and "31.0 %" in noise
    assert "&lt;i&gt;cargo&lt;/i&gt;" in page.split('id="busiest-table"')[1]
    assert "Time budget spent after 3 rounds; precision reached ±" in page


def test_the_why_section_has_gflops_sgemm_fraction_the_split_and_its_figures(full):
    folder, page = full
    why = page.split('id="why"')[1].split('id="invalid"')[0]
    a = json.loads((folder / "analysis.json").read_text())
    rust = next(c for c in a["contenders"] if c["name"] == "rust")
    row = re.sub(r"<[^>]+>", " ", why.split('class="text">rust<')[1].split("</tr>")[0]).split()
    assert f"{rust['train_gflops']:.3g}" in row
    assert f"{100 * rust['sgemm_fraction']:.0f}" in row
    assert f"{rust['split']['total']:.4g}" in row
    assert 'id="fig-breakdown"' in why and 'id="fig-why"' in why
    assert "Where the difference comes from" in page.split('id="why-sentence"')[1]


def test_report_is_self_contained(full):
    _, page = full
    assert re.search(r"<img src=\"data:image/png;base64,", page)
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<link" not in page


def test_failed_contender_shows_exit_code_and_stderr_tail(full):
    _, page = full
    failures = page.split('id="failures"')[1]
    assert "rust-broken: failed (exit code 3)" in failures
    assert "training diverged: loss is not finite" in failures


def test_fairness_section_shows_spec_parity_seeds_and_evaluator(full):
    folder, page = full
    fairness = page.split('id="fairness"')[1].split('id="environment"')[0]
    assert (
        json.loads((folder / "analysis.json").read_text())["fairness"]["spec_sha256"]["spec_file"]
        in fairness
    )
    assert "layers.0.weight" in fairness and "passed" in fairness
    assert "20 vs 21 epochs: float rounding at the threshold" in fairness
    assert "3 model(s) where the contender's own accuracy disagrees" in fairness  # 3 seeds


def test_environment_is_grouped_and_commands_and_raw_links_are_listed(full):
    _, page = full
    env = page.split('id="environment"')[1]
    for group in ("machine", "python", "rust", "tools", "git"):
        assert f"<h3>{group}</h3>" in env
    assert "Synthetic CPU @ 3.0GHz" in env
    assert "init/seed-{seed}.safetensors" in env
    for link in ("tables/runs.csv", "metrics/rust/seed-1.jsonl", "run.json", "plots/accuracy.svg"):
        assert f'href="{link}"' in page


def test_summary_md_has_headline_and_a_row_per_contender(full):
    folder, _ = full
    text = (folder / "summary.md").read_text()
    assert text.splitlines()[2].startswith("**rust (1 thread) is ")
    rows = [line for line in text.splitlines() if line.startswith("| rust")]
    assert len(rows) == 2 and "| failed |" in rows[1]
    assert "| faster |" in rows[0]


def test_parity_skipped_and_nested_parity_pairs_are_both_shown(tmp_path):
    folder = write_results(tmp_path / "skip", FakeRun(parity=False))
    assert "parity check skipped" in report_from_tables(folder).read_text()
    nested = write_results(tmp_path / "nested")
    parity = {
        "status": "failed",
        "steps": 3,
        "tolerance": {"abs": 1e-5, "rule": "|a - b| <= 1e-05 * sqrt(K) per weight"},
        "pairs": [
            {
                "a": "python-numpy",
                "b": "rust",
                "tensors": [
                    {"tensor": "layers.1.bias", "max_abs": 0.5, "max_rel": 1.0, "passed": False}
                ],
                "passed": False,
            }
        ],
    }
    (nested / "parity.json").write_text(json.dumps(parity))
    page = report_from_tables(nested).read_text()
    assert "layers.1.bias" in page and "5.00e-01" in page and "per weight" in page


def test_the_first_screen_holds_the_answer_the_machine_warning_and_a_compact_table(full):
    _, page = full
    answer = page.split('id="answer"')[1].split("</section>")[0]
    assert 'class="headline">rust (1 thread) is ' in answer
    assert "The machine was not quiet:" in answer and "31 % of a core" in answer
    assert "Where the difference comes from" in answer
    head = page.split('id="summary-table"')[0]
    assert "<details" not in head  # nothing above the summary is folded away
    summary = page.split('id="summary-table"')[1].split("</table>")[0]
    assert summary.count("<th") == 8  # median+CI, speed-up+CI, verdict, GFLOP/s, sgemm, memory
    assert 'class="compact"' in page.split('id="summary-table"')[0][-40:] + summary[:20]
    for section in ("statistics", "noise", "fairness", "environment", "reproduce", "raw"):
        assert f'<details id="{section}"' in page, section
    assert '<details id="noise" open>' in page  # the warning is not hidden


def test_the_environment_is_in_human_units_and_reproduce_can_be_pasted(tmp_path):
    folder = write_results(tmp_path / "run")
    env = {
        "cpu_model": "AMD EPYC", "cpu_mhz": 2596.1, "cpu_flags": ["avx2", "avx512f"],
        "logical_cores": 2, "usable_cores": 2, "memory_bytes": 25276203008,
        "os": "Linux 6.1", "machine": "x86_64", "torch": None,
        "numpy": {"version": "2.4.6", "blas": [{"internal_api": "openblas",
                  "version": "0.3.31.188.0", "architecture": "Haswell", "num_threads": 2}]},
    }  # fmt: skip
    (folder / "env.json").write_text(json.dumps(env))
    run = json.loads((folder / "run.json").read_text())
    run["command_line"] = ["python -m harness", "run", "--note", "a b"]  # an old folder's form
    run["notes"] = ["python-torch skipped: Python module torch is not installed"]
    (folder / "run.json").write_text(json.dumps(run))
    page = report_from_tables(folder).read_text()
    text = re.sub(r"<[^>]+>", " ", page.split('id="environment"')[1].split("</details>")[0])
    assert "AMD EPYC, 2,596 MHz" in text and "23.5 GiB" in text and "avx2, avx512f" in text
    assert "OpenBLAS 0.3.31 (Haswell kernels, 2 threads)" in text
    assert "PyTorch" in text and "not installed" in text and "25276203008" not in page
    assert "python -m harness run --note &#39;a b&#39;" in page
    assert "Not run: python-torch skipped: Python module torch is not installed." in page
