"""The 2x2 (grid, wording_grid): language and library ratios with known answers.

The synthetic contenders' parts are fixed, so each whole-process time is known (startup + load
+ set-up + 20 epochs of train + eval) and every ratio has an exact answer up to 1 % noise.
"""

import json

import pytest
from data.results_factory import FakeContender, FakeRun, write_results

from harness.analysis.analyze import analyze
from harness.errors import HarnessError
from harness.model.analysis import read_analysis
from harness.preparation.contenders import load_file
from harness.presentation.report import render

EPOCHS = 20
NUMPY = FakeContender(
    "python-numpy", "python-numpy", startup=0.15, load=0.2, train=0.08, eval=0.02,
    language="Python", approach="from-scratch",
)  # fmt: skip
TORCH = FakeContender(
    "python-torch", "python-torch", startup=0.8, load=0.2, train=0.03, eval=0.01,
    language="Python", approach="framework",
)  # fmt: skip
RUST = FakeContender("rust", "rust", language="Rust", approach="from-scratch")
CANDLE = FakeContender(
    "rust-candle", "rust-candle", train=0.06, eval=0.02, language="Rust", approach="framework"
)


def wall(c: FakeContender) -> float:
    return c.startup + c.load + c.setup + EPOCHS * (c.train + c.eval)


def build(tmp_path, contenders, **fields):
    fake = FakeRun(contenders=contenders, late_seed=None, noise=0.01, epochs=EPOCHS, **fields)
    folder = write_results(tmp_path / "run", fake)
    analyze(folder)
    return folder, read_analysis(folder).to_dict()


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return build(tmp_path_factory.mktemp("grid"), (NUMPY, TORCH, RUST, CANDLE))


def test_the_four_cells_hold_each_contender_with_its_median_times(full):
    _, a = full
    (g,) = a["grid"]
    assert g["threads"] == 1 and g["languages"] == ["Python", "Rust"]
    cells = {(c["language"], c["approach"]): c for c in g["cells"]}
    assert cells[("Rust", "framework")]["contender"] == "rust-candle"
    for c in (NUMPY, TORCH, RUST, CANDLE):
        cell = cells[(c.language, c.approach)]
        assert cell["wall_median"] == pytest.approx(wall(c), rel=0.03)
        assert cell["seconds_per_epoch_median"] == pytest.approx(c.train, rel=0.03)


def test_language_ratios_compare_rust_with_python_within_each_column(full):
    _, a = full
    ratios = {r["approach"]: r for r in a["grid"][0]["language_ratios"]}
    scratch, framework = ratios["from-scratch"], ratios["framework"]
    assert (scratch["reference"], scratch["contender"]) == ("python-numpy", "rust")
    assert scratch["ratio"] == pytest.approx(wall(NUMPY) / wall(RUST), rel=0.02)  # 2.71
    assert scratch["verdict"] == "faster" and scratch["ci_low"] > 1
    assert (framework["reference"], framework["contender"]) == ("python-torch", "rust-candle")
    assert framework["ratio"] == pytest.approx(wall(TORCH) / wall(CANDLE), rel=0.02)  # 1.08


def test_library_ratios_compare_framework_with_from_scratch_within_each_row(full):
    _, a = full
    ratios = {r["language"]: r for r in a["grid"][0]["library_ratios"]}
    assert (ratios["Python"]["reference"], ratios["Python"]["contender"]) == (
        "python-numpy",
        "python-torch",
    )
    assert ratios["Python"]["ratio"] == pytest.approx(wall(NUMPY) / wall(TORCH), rel=0.02)
    assert ratios["Rust"]["ratio"] == pytest.approx(wall(RUST) / wall(CANDLE), rel=0.02)  # 0.52
    assert ratios["Rust"]["verdict"] == "slower" and ratios["Rust"]["ci_high"] < 1


def test_the_report_shows_the_2x2_with_cells_ratios_and_the_larger_effect(full):
    folder, _ = full
    html = render(folder).read_text(encoding="utf-8")
    section = html[html.index('<h2 id="grid">') : html.index('<h2 id="why">')]
    assert "At 1 thread" in section and "rust-candle<br>" in section
    assert "s to target" in section and "s per epoch" in section
    rust_vs_candle = wall(CANDLE) / wall(RUST)
    assert f"{rust_vs_candle:.1f}" in section  # the Rust row's library ratio, as "x slower"
    assert "Language, from-scratch code: rust (1 thread) is 2.7" in section
    assert "Over the whole run the larger effect is the language&#39;s: language 2.7" in section
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert "| Rust vs Python |" in summary and "| Python | python-numpy, " in summary


def test_a_row_alone_gives_only_the_library_ratio(tmp_path):
    _, a = build(tmp_path, (NUMPY, TORCH))
    (g,) = a["grid"]
    assert g["languages"] == ["Python"] and g["language_ratios"] == []
    assert [r["contender"] for r in g["library_ratios"]] == ["python-torch"]


def test_contenders_without_an_approach_stay_out_and_no_pair_means_no_grid(tmp_path):
    plain = FakeContender("rust", "rust")  # no language or approach declared
    _, a = build(tmp_path, (NUMPY, plain, TORCH))
    (g,) = a["grid"]
    assert g["languages"] == ["Python"] and g["language_ratios"] == []
    _, a = build(tmp_path / "diagonal", (NUMPY, CANDLE))  # no row or column holds two cells
    assert a["grid"] == []


def test_one_approach_alone_gives_no_grid_its_ratios_are_the_summarys(tmp_path):
    _, a = build(tmp_path, (NUMPY, RUST))
    assert a["grid"] == [] and a["comparisons"][0]["contender"] == "rust"


def test_each_thread_count_gets_its_own_grid(tmp_path):
    at2 = [
        FakeContender(f"{c.name}@2", c.implementation, threads=2, train=c.train / 1.6,
                      startup=c.startup, load=c.load, eval=c.eval, language=c.language,
                      approach=c.approach)
        for c in (NUMPY, RUST, CANDLE)
    ]  # fmt: skip
    _, a = build(tmp_path, (NUMPY, RUST, CANDLE, *at2))
    assert [g["threads"] for g in a["grid"]] == [1, 2]
    (ratio,) = a["grid"][1]["language_ratios"]
    assert (ratio["reference"], ratio["contender"]) == ("python-numpy@2", "rust@2")
    (ratio,) = a["grid"][1]["library_ratios"]
    assert (ratio["reference"], ratio["contender"]) == ("rust@2", "rust-candle@2")


def test_a_declared_approach_must_be_one_of_the_two_columns(tmp_path):
    entry = {"name": "mine", "implementation": "c++", "algorithm": "batched", "program": ["x"]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"schema_version": 1, "contenders": [entry]}), encoding="utf-8")
    assert load_file(path)["mine"].approach is None
    entry |= {"language": "C++", "approach": "handwritten"}
    path.write_text(json.dumps({"schema_version": 1, "contenders": [entry]}), encoding="utf-8")
    with pytest.raises(HarnessError, match=r'contenders\[0\]\.approach: expected "from-scratch"'):
        load_file(path)
