"""Statistics over a results folder: analysis.json and tables/summary.csv."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from data.results_factory import DEFAULT_CONTENDERS, FakeContender, FakeRun, write_results

from harness.analyze import AnalysisConfig, analyze, instability, ratio_test
from harness.errors import HarnessError


def _analysis(tmp_path, fake=None):
    folder = write_results(tmp_path / "run", fake)
    analyze(folder)
    return json.loads((folder / "analysis.json").read_text()), folder


def test_headline_claims_faster_with_ratio_ci_and_p_value(tmp_path):
    a, _ = _analysis(tmp_path)
    assert a["reference"] == "python-numpy"
    assert a["headline"].startswith("rust (1 thread) is 2.")
    assert "x faster than python-numpy (1 thread) (95 % CI" in a["headline"]
    assert "seconds per epoch" in a["headline"]
    (cmp,) = a["comparisons"]
    assert cmp["paired"] is True and cmp["test"] == "wilcoxon"
    assert cmp["ci_low"] < cmp["ratio"] < cmp["ci_high"]
    assert cmp["p_value"] < 0.05 and cmp["verdict"] == "faster"


def test_equal_contenders_give_no_significant_difference(tmp_path):
    twin = FakeContender("rust-twin", "rust")
    a, _ = _analysis(tmp_path, FakeRun(contenders=(FakeContender("rust", "rust"), twin)))
    assert a["comparisons"][0]["verdict"] == "no_difference"
    assert a["headline"].startswith(
        "no significant difference between rust-twin (1 thread) and rust (1 thread)"
    )


def test_epoch_mismatch_at_the_threshold_is_flagged_and_explained(tmp_path):
    a, _ = _analysis(tmp_path)
    seeds = {s["seed"]: s for s in a["fairness"]["seeds"]}
    assert seeds["1"]["mismatch"] is False
    assert seeds["2"]["mismatch"] is True
    assert seeds["2"]["epochs"] == {"python-numpy": [20], "rust": [21]}
    assert seeds["2"]["explanation"].startswith("20 vs 21 epochs: float rounding at the threshold")


def test_failed_runs_count_against_the_success_rate(tmp_path):
    broken = FakeContender("rust-broken", "rust", fail=True)
    a, folder = _analysis(tmp_path, FakeRun(contenders=(*DEFAULT_CONTENDERS, broken)))
    by_name = {c["name"]: c for c in a["contenders"]}
    assert by_name["rust"]["success_rate"] == 1.0
    assert by_name["rust-broken"]["success_rate"] == 0.0
    assert by_name["rust-broken"]["status"] == "failed"
    assert by_name["rust-broken"]["exit_codes"] == [3]
    assert "diverged" in by_name["rust-broken"]["stderr_tail"]
    summary = pd.read_csv(folder / "tables" / "summary.csv")
    assert summary.loc[summary["contender"] == "rust-broken", "runs"].item() == 9


def test_summary_csv_matches_the_medians_of_runs_csv(tmp_path):
    _, folder = _analysis(tmp_path)
    runs = pd.read_csv(folder / "tables" / "runs.csv")
    summary = pd.read_csv(folder / "tables" / "summary.csv").set_index("contender")
    for name, group in runs.groupby("contender"):
        assert summary.loc[name, "median_seconds"] == pytest.approx(group["wall_seconds"].median())
        assert summary.loc[name, "seconds_per_epoch_median"] == pytest.approx(
            group["seconds_per_epoch"].median()
        )
    assert summary.loc["python-numpy", "verdict"] == "reference"


def test_analysis_json_is_strict_json_without_nan(tmp_path):
    _, folder = _analysis(tmp_path, FakeRun(parity=False, env=False))
    text = (folder / "analysis.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data["schema_version"] == 1
    assert data["fairness"]["parity_status"] == "skipped"
    assert data["environment_present"] is False


def test_target_sweep_reads_time_to_lower_targets_from_the_epoch_log(tmp_path):
    a, folder = _analysis(tmp_path)
    sweep = a["target_sweep"]
    assert sweep["targets"][-1] == 0.9 and len(sweep["targets"]) == 6
    epochs = pd.read_csv(folder / "tables" / "epochs.csv")
    rust = epochs[epochs["contender"] == "rust"]
    first = rust[rust["test_accuracy"] > 0.8].sort_values("epoch").groupby(["seed", "run_index"])
    expected = first.head(1)["elapsed_seconds"].median()
    row = next(r for r in sweep["rows"] if r["contender"] == "rust" and r["target"] == 0.8)
    assert row["median_seconds"] == pytest.approx(expected)
    assert row["reached_fraction"] == 1.0


def test_spec_hashes_from_start_events_agree_with_spec_json(tmp_path):
    a, _ = _analysis(tmp_path)
    spec = a["fairness"]["spec_sha256"]
    assert spec["consistent"] is True
    assert spec["by_contender"]["rust"] == [spec["spec_file"]]


def test_evaluator_disagreement_is_flagged(tmp_path):
    a, _ = _analysis(tmp_path, FakeRun(evaluator_disagrees="rust"))
    flags = {(r["contender"], r["agrees"]) for r in a["fairness"]["evaluator"]}
    assert ("rust", False) in flags and ("python-numpy", True) in flags


def test_thread_counts_of_one_implementation_form_a_scaling_series(tmp_path):
    contenders = (
        FakeContender("rust", "rust", threads=1),
        FakeContender("rust-2t", "rust", threads=2, train=0.018),
    )
    a, _ = _analysis(tmp_path, FakeRun(contenders=contenders))
    (series,) = a["thread_scaling"]
    assert [p["threads"] for p in series["points"]] == [1, 2]
    assert series["points"][1]["median"] < series["points"][0]["median"]


def test_unpaired_samples_use_mann_whitney():
    rng = np.random.default_rng(1)
    a, b = rng.normal(2.0, 0.05, 20), rng.normal(1.0, 0.05, 15)
    test = ratio_test(a, b, paired=False, cfg=AnalysisConfig())
    assert test["test"] == "mannwhitneyu"
    assert test["ratio"] == pytest.approx(np.median(a) / np.median(b))
    assert test["p_value"] < 0.001


def test_instability_warnings_name_spread_outliers_and_run_count():
    notes = instability(np.array([1.0, 1.0, 1.01, 0.99, 1.0, 5.0]), AnalysisConfig())
    text = " ".join(notes)
    assert "only 6 timed runs" in text
    assert "unstable: stddev is" in text
    assert "1 outlier(s)" in text
    assert instability(np.linspace(1.0, 1.01, 30), AnalysisConfig()) == []


def test_a_folder_without_runs_csv_is_a_clear_error(tmp_path):
    with pytest.raises(HarnessError, match=r"runs.csv: not found"):
        analyze(tmp_path)


def test_missing_optional_columns_and_nans_are_tolerated(tmp_path):
    folder = tmp_path / "min"
    (folder / "tables").mkdir(parents=True)
    pd.DataFrame(
        {"contender": ["a", "a", "b", "b"], "wall_seconds": [1.0, math.nan, 0.5, 0.6]}
    ).to_csv(folder / "tables" / "runs.csv", index=False)
    analyze(folder)
    data = json.loads((folder / "analysis.json").read_text())
    assert data["contenders"][0]["wall"]["median"] == 1.0
    assert data["has_metrics"] is False
