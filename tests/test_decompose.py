"""Kernel x language (decompose, wording_decompose) with known answers.

Synthetic contenders with fixed parts: python-numpy, rust-numpy-blas (the Rust step on NumPy's
kernels) and rust, at 1 thread and 2. Every whole-process time is known, so each factor has an
exact answer up to the 1 % noise, and total = language x kernel must hold to rounding.
"""

import math

import pytest
from data.results_factory import FakeContender, FakeRun, write_results

from harness.analysis import decompose
from harness.analysis.analyze import analyze
from harness.model.analysis import read_analysis
from harness.presentation.report import render

EPOCHS = 20
NUMPY = FakeContender("python-numpy", "python-numpy", startup=0.15, load=0.2, train=0.08)
TWIN = FakeContender("rust-numpy-blas", "rust-numpy-blas", train=0.06)
RUST = FakeContender("rust", "rust", train=0.05)
NUMPY2 = FakeContender(
    "python-numpy-parallel", "python-numpy", threads=2, startup=0.15, load=0.2, train=0.05
)
TWIN2 = FakeContender("rust-numpy-blas-parallel", "rust-numpy-blas", threads=2, train=0.04)
RUST2 = FakeContender("rust-parallel", "rust", threads=2, train=0.025)


def wall(c: FakeContender) -> float:
    return c.startup + c.load + c.setup + EPOCHS * (c.train + c.eval)


def epoch(c: FakeContender) -> float:
    return c.train  # the runs table's seconds_per_epoch: training seconds per epoch


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    fake = FakeRun(
        contenders=(NUMPY, TWIN, RUST, NUMPY2, TWIN2, RUST2),
        late_seed=None,
        noise=0.01,
        epochs=EPOCHS,
    )
    folder = write_results(tmp_path_factory.mktemp("decompose") / "run", fake)
    analyze(folder)
    return folder, read_analysis(folder).to_dict()


def test_each_thread_count_gets_one_decomposition_naming_its_three_contenders(run):
    _, a = run
    rows = {d["threads"]: d for d in a["decomposition"]}
    assert sorted(rows) == [1, 2]
    assert (rows[1]["reference"], rows[1]["twin"], rows[1]["native"]) == (
        "python-numpy",
        "rust-numpy-blas",
        "rust",
    )
    assert rows[2]["twin"] == "rust-numpy-blas-parallel" and rows[2]["native"] == "rust-parallel"
    assert rows[1]["whole_pairing"] == "seed+round"


@pytest.mark.parametrize(
    ("threads", "ref", "twin", "native"), [(1, NUMPY, TWIN, RUST), (2, NUMPY2, TWIN2, RUST2)]
)
def test_the_factors_are_the_known_ratios_and_multiply_to_the_total(
    run, threads, ref, twin, native
):
    _, a = run
    d = next(d for d in a["decomposition"] if d["threads"] == threads)
    for scope, t in (("whole", wall), ("per_epoch", epoch)):
        f = d[scope]
        assert f["language"]["ratio"] == pytest.approx(t(ref) / t(twin), rel=0.02)
        assert f["kernel"]["ratio"] == pytest.approx(t(twin) / t(native), rel=0.02)
        assert f["total"]["ratio"] == pytest.approx(t(ref) / t(native), rel=0.02)
        product = f["language"]["ratio"] * f["kernel"]["ratio"]
        assert math.isclose(product, f["total"]["ratio"], rel_tol=1e-12)
        assert f["language"]["verdict"] == "faster" and f["kernel"]["verdict"] == "faster"


def test_the_whole_run_total_matches_the_summary_comparison_of_the_same_runs(run):
    _, a = run
    d = next(d for d in a["decomposition"] if d["threads"] == 1)
    cmp = next(c for c in a["comparisons"] if c["contender"] == "rust")
    assert d["whole"]["total"]["ratio"] == pytest.approx(cmp["ratio"], rel=1e-9)
    assert d["whole"]["total"]["ci_low"] == pytest.approx(cmp["ci_low"], rel=1e-9)


def test_without_the_twin_there_is_no_decomposition(tmp_path):
    fake = FakeRun(contenders=(NUMPY, RUST), late_seed=None, noise=0.01, epochs=EPOCHS)
    folder = write_results(tmp_path / "run", fake)
    analyze(folder)
    assert read_analysis(folder).to_dict()["decomposition"] == []
    render(folder)
    assert "Kernel or language" not in (folder / "summary.md").read_text()


def test_the_report_and_summary_show_the_table_and_one_sentence_per_scope(run):
    folder, a = run
    render(folder)
    summary = (folder / "summary.md").read_text()
    d = next(d for d in a["decomposition"] if d["threads"] == 1)
    total, lang, kern = (d["whole"][k]["ratio"] for k in ("total", "language", "kernel"))
    assert (
        f"At 1 thread, over the whole run, of rust's {total:.2f}x over python-numpy, "
        f"{lang:.2f}x is the language" in summary
    )
    assert f"and {kern:.2f}x the kernels" in summary
    assert "| 2 | per training epoch |" in summary
    html = (folder / "report.html").read_text()
    assert 'id="decomposition-table"' in html and html.count(">per training epoch</td>") == 2


def test_joined_needs_the_same_seed_and_round_in_all_three():
    import pandas as pd

    def frame(times, rounds):
        return pd.DataFrame(
            {
                "seed": ["1"] * len(times),
                "round": rounds,
                "run_index": rounds,
                "wall_seconds": times,
            }
        )

    a, b, c = (
        frame([4.0, 4.0, 4.0], [1, 2, 3]),
        frame([2.0, 2.0], [1, 3]),
        frame([1.0, 1.0], [3, 1]),
    )
    times, pairing = decompose.joined([a, b, c], "wall_seconds")
    assert pairing == "seed+round" and times.tolist() == [[4.0, 2.0, 1.0], [4.0, 2.0, 1.0]]
