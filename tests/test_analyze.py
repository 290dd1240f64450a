"""The analyze stage: analysis.json (numbers, names, codes) and tables/summary.csv."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from data.results_factory import (
    DEFAULT_CONTENDERS,
    SGEMM,
    TRAIN_FLOPS,
    FakeContender,
    FakeRun,
    assert_verdicts_agree_with_cis,
    write_results,
)

from harness.analysis.analyze import analyze
from harness.analysis.pairing import PARTS, load_runs
from harness.errors import HarnessError
from harness.model.analysis import read_analysis
from harness.model.tables import RunRecord, SummaryRow, read_table, write_rows

NUMPY2 = FakeContender(
    "python-numpy@2", "python-numpy", threads=2, startup=0.15, load=0.2, train=0.05, eval=0.015
)
RUST2 = FakeContender("rust@2", "rust", threads=2, train=0.018, eval=0.007)


def _analysis(tmp_path, fake=None):
    folder = write_results(tmp_path / "run", fake)
    analyze(folder)
    return read_analysis(folder).to_dict(), folder


def _summary(folder):
    return read_table(folder / "tables" / "summary.csv", SummaryRow).set_index("contender")


@pytest.mark.parametrize(
    "fake",
    [
        FakeRun(),  # clearly faster
        FakeRun(contenders=(FakeContender("rust", "rust"), FakeContender("twin", "rust"))),
        FakeRun(
            contenders=(FakeContender("rust", "rust"), FakeContender("twin", "rust")),
            seeds=(1,),
            runs=2,
            noise=0.3,
            round_noise=0.2,
        ),  # noisy and equal, few runs
        FakeRun(contenders=(*DEFAULT_CONTENDERS, NUMPY2, RUST2), rounds=False),
    ],
    ids=["faster", "equal", "noisy-equal-few-runs", "two-thread-counts-no-rounds"],
)
def test_every_summary_row_has_the_verdict_its_ci_gives(tmp_path, fake):
    _, folder = _analysis(tmp_path, fake)
    assert assert_verdicts_agree_with_cis(_summary(folder)) >= 1


def test_a_clearly_faster_contender_is_faster_by_a_paired_ratio(tmp_path):
    a, _ = _analysis(tmp_path)
    assert a["reference"] == "python-numpy" and a["headline"] == "rust"
    (cmp,) = a["comparisons"]
    assert cmp["pairing"] == "seed+round" and cmp["paired"] is True and cmp["n"] == 9
    assert cmp["ci_low"] < cmp["ratio"] < cmp["ci_high"] and cmp["ci_low"] > 1
    assert cmp["p_value"] < 0.05 and cmp["verdict"] == "faster"
    assert cmp["per_epoch"]["verdict"] == "faster"


def test_equal_contenders_are_equivalent_and_noisy_few_runs_are_inconclusive(tmp_path):
    twins = (FakeContender("rust", "rust"), FakeContender("twin", "rust"))
    a, _ = _analysis(tmp_path / "a", FakeRun(contenders=twins))
    assert a["comparisons"][0]["verdict"] == "equivalent"
    noisy = FakeRun(contenders=twins, seeds=(1,), runs=3, noise=0.3, round_noise=0.0)
    b, _ = _analysis(tmp_path / "b", noisy)
    assert b["comparisons"][0]["verdict"] == "inconclusive"


def test_runs_pair_by_seed_and_round_else_by_seed_and_run_index(tmp_path):
    a, _ = _analysis(tmp_path / "a", FakeRun(rounds=True))
    b, _ = _analysis(tmp_path / "b", FakeRun(rounds=False))
    assert a["comparisons"][0]["pairing"] == "seed+round"
    assert b["comparisons"][0]["pairing"] == "seed+run_index"


def test_pairing_by_round_cancels_a_machine_wide_slow_spell(tmp_path):
    spell = FakeRun(runs=6, round_factors={2: 1.4, 5: 1.3})
    a, folder = _analysis(tmp_path, spell)
    paired = a["comparisons"][0]
    runs = load_runs(folder)
    ref = runs.loc[runs["contender"] == "python-numpy", "wall_seconds"].to_numpy()
    rust = runs.loc[runs["contender"] == "rust", "wall_seconds"].to_numpy()
    log_ref, log_rust = np.log(ref), np.log(rust)
    unpaired_se = math.sqrt(log_ref.var(ddof=1) / ref.size + log_rust.var(ddof=1) / rust.size)
    paired_half = math.log(paired["ci_high"] / paired["ratio"])
    assert paired_half < unpaired_se  # narrower than even a 1-se unpaired interval
    assert a["noise"]["slow_rounds"] == [2, 5]


def test_comparisons_are_like_for_like_and_cross_thread_ratios_stand_apart(tmp_path):
    a, folder = _analysis(tmp_path, FakeRun(contenders=(*DEFAULT_CONTENDERS, NUMPY2, RUST2)))
    like = {c["contender"]: c["reference"] for c in a["comparisons"]}
    assert like == {"rust": "python-numpy", "rust@2": "python-numpy@2"}
    cross = {c["contender"]: c["reference"] for c in a["cross_thread"]}
    assert cross == {"python-numpy@2": "python-numpy", "rust@2": "python-numpy"}
    assert a["headline"] in like
    summary = _summary(folder)
    assert summary.loc["rust@2", "reference"] == "python-numpy@2"
    assert summary.loc["python-numpy@2", "verdict"] == "reference"


def test_a_contender_without_a_same_thread_reference_gets_only_a_cross_thread_ratio(tmp_path):
    a, folder = _analysis(tmp_path, FakeRun(contenders=(DEFAULT_CONTENDERS[0], RUST2)))
    assert a["comparisons"] == [] and a["headline"] is None
    assert [c["contender"] for c in a["cross_thread"]] == ["rust@2"]
    assert pd.isna(_summary(folder).loc["rust@2", "speedup_vs_reference"])


def test_each_runs_parts_add_up_to_its_wall_time_and_the_split_to_the_median(tmp_path):
    a, folder = _analysis(tmp_path)
    runs = load_runs(folder)
    assert runs[list(PARTS)].sum(axis=1).to_numpy() == pytest.approx(runs["wall_seconds"])
    for c in a["contenders"]:
        assert sum(c["split"][p] for p in PARTS) == pytest.approx(c["wall"]["median"])
        assert c["split"]["total"] == pytest.approx(c["wall"]["median"])
        assert c["startup_load"] == pytest.approx(c["split"]["outside"] + c["split"]["load"])
    # An older runs.csv without setup_seconds: set-up is the rest of the process's own clock.
    old = runs.drop(columns=["setup_seconds", "startup_seconds"])
    old[[c for c in old.columns if c in RunRecord.__dataclass_fields__]].to_csv(
        folder / "tables" / "runs.csv", index=False
    )
    again = load_runs(folder)
    assert again["setup"].to_numpy() == pytest.approx(runs["setup"].to_numpy())
    assert again[list(PARTS)].sum(axis=1).to_numpy() == pytest.approx(again["wall_seconds"])


def test_training_gflops_and_the_sgemm_fraction_come_from_the_floor(tmp_path):
    _, folder = _analysis(tmp_path, FakeRun(contenders=(*DEFAULT_CONTENDERS, RUST2)))
    summary = _summary(folder)
    runs = load_runs(folder)
    for name, threads in (("rust", 1), ("rust@2", 2)):
        spe = runs.loc[runs["contender"] == name, "seconds_per_epoch"].median()
        assert summary.loc[name, "train_gflops"] == pytest.approx(TRAIN_FLOPS / spe / 1e9)
        assert summary.loc[name, "sgemm_fraction"] == pytest.approx(
            TRAIN_FLOPS / spe / 1e9 / SGEMM[str(threads)]
        )
    b, _ = _analysis(tmp_path / "nofloor", FakeRun(floor=False))
    assert all(c["train_gflops"] is None for c in b["contenders"])


def test_invalid_runs_are_left_out_of_the_statistics_and_listed(tmp_path):
    problem = "metrics/rust/seed-1.jsonl:7: epoch event: train_seconds: expected number"
    a, folder = _analysis(tmp_path, FakeRun(invalid={"rust-1-2": problem}))
    rust = next(c for c in a["contenders"] if c["name"] == "rust")
    assert rust["runs"] == 9 and rust["valid_runs"] == 8 and rust["wall"]["n"] == 8
    assert rust["invalid"] == [{"seed": "1", "round": 3, "run_index": 2, "problem": problem}]
    assert a["comparisons"][0]["n"] == 8
    runs = load_runs(folder)
    valid = runs[(runs["contender"] == "rust") & (runs["status"] != "invalid")]
    assert rust["wall"]["median"] == pytest.approx(valid["wall_seconds"].median())


def test_epoch_mismatch_at_the_threshold_is_flagged_with_its_cause(tmp_path):
    a, _ = _analysis(tmp_path)
    seeds = {s["seed"]: s for s in a["fairness"]["seeds"]}
    assert seeds["1"]["mismatch"] is False
    assert seeds["2"]["epochs"] == {"python-numpy": [20], "rust": [21]}
    assert seeds["2"]["cause"] == {
        "low": 20, "high": 21, "target": 0.9, "code": "rounding", "accuracy": 0.8996, "epoch": 20
    }  # fmt: skip


def test_failed_runs_count_against_the_success_rate(tmp_path):
    broken = FakeContender("rust-broken", "rust", fail=True)
    a, folder = _analysis(tmp_path, FakeRun(contenders=(*DEFAULT_CONTENDERS, broken)))
    by_name = {c["name"]: c for c in a["contenders"]}
    assert by_name["rust"]["success_rate"] == 1.0
    assert by_name["rust-broken"]["success_rate"] == 0.0
    assert by_name["rust-broken"]["status"] == "failed"
    assert by_name["rust-broken"]["exit_codes"] == [3]
    assert by_name["rust-broken"]["wall_samples"] == []
    assert "diverged" in by_name["rust-broken"]["failures"][0]["stderr_tail"]
    assert by_name["rust-broken"]["warnings"][0] == {"code": "no_success"}
    assert _summary(folder).loc["rust-broken", "runs"] == 9


def test_summary_csv_matches_the_medians_of_runs_csv(tmp_path):
    _, folder = _analysis(tmp_path)
    runs = pd.read_csv(folder / "tables" / "runs.csv")
    summary = _summary(folder)
    for name, group in runs.groupby("contender"):
        assert summary.loc[name, "median_seconds"] == pytest.approx(group["wall_seconds"].median())
        assert summary.loc[name, "seconds_per_epoch_median"] == pytest.approx(
            group["seconds_per_epoch"].median()
        )
        assert summary.loc[name, "max_rss_mib"] == pytest.approx(60e6 / 2**20)
    assert summary.loc["python-numpy", "verdict"] == "reference"


def test_analysis_json_is_strict_json_of_numbers_and_names(tmp_path):
    _, folder = _analysis(tmp_path, FakeRun(parity=False, env=False))
    text = (folder / "analysis.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data["schema_version"] == 3
    assert data["fairness"]["parity"]["status"] == "skipped"
    assert data["environment_present"] is False
    assert "sentence" not in text and " faster than " not in text


def test_noise_over_a_tenth_of_a_core_is_flagged_and_precision_reported(tmp_path):
    noise = {"other_share": 0.23, "busiest": [{"pid": 1, "name": "cargo", "share": 0.2}]}
    outcome = {"noise": noise, "stop_reason": "precision", "rounds_done": 3}
    a, _ = _analysis(tmp_path, FakeRun(outcome=outcome))
    assert a["noise"]["busy"] is True and a["noise"]["busiest"][0]["name"] == "cargo"
    m = a["measuring"]
    assert m["stop_reason"] == "precision" and m["rounds_done"] == 3
    (cmp,) = a["comparisons"]
    assert m["precision_reached"] == pytest.approx(math.sqrt(cmp["ci_high"] / cmp["ci_low"]) - 1)
    quiet, _ = _analysis(tmp_path / "quiet", FakeRun(outcome={"noise": {"other_share": 0.05}}))
    assert quiet["noise"]["busy"] is False


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
    a, folder = _analysis(tmp_path)
    spec = a["fairness"]["spec_sha256"]
    assert spec["consistent"] is True
    assert spec["by_contender"]["rust"] == [spec["spec_file"]]
    path = folder / "metrics" / "rust" / "seed-1.jsonl"
    path.write_text(path.read_text().replace(spec["spec_file"], "0" * 64, 1))
    analyze(folder)
    assert read_analysis(folder).to_dict()["fairness"]["spec_sha256"]["consistent"] is False


def test_evaluator_disagreement_is_flagged(tmp_path):
    a, _ = _analysis(tmp_path, FakeRun(evaluator_disagrees="rust"))
    flags = {(r["contender"], r["agrees"]) for r in a["fairness"]["evaluator"]}
    assert ("rust", False) in flags and ("python-numpy", True) in flags


def test_thread_counts_of_one_implementation_form_a_scaling_series(tmp_path):
    contenders = (FakeContender("rust", "rust", threads=1), RUST2)
    a, _ = _analysis(tmp_path, FakeRun(contenders=contenders))
    (series,) = a["thread_scaling"]
    assert [p["threads"] for p in series["points"]] == [1, 2]
    assert series["points"][1]["median"] < series["points"][0]["median"]


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
    data = read_analysis(folder).to_dict()
    assert data["contenders"][0]["wall"]["median"] == 1.0
    assert data["has_metrics"] is False
    assert data["comparisons"][0]["pairing"] == "independent"


def test_a_folder_without_timed_runs_still_analyzes(tmp_path):
    folder = write_results(tmp_path / "run")
    write_rows(folder / "tables" / "runs.csv", RunRecord, [])
    analyze(folder)
    data = read_analysis(folder).to_dict()
    assert all(c["runs"] == 0 and c["wall"]["median"] is None for c in data["contenders"])
    assert data["comparisons"][0]["ratio"] is None


def test_cpu_seconds_and_cores_used_are_the_medians_of_each_runs_user_plus_system(tmp_path):
    _, folder = _analysis(tmp_path)
    runs = pd.read_csv(folder / "tables" / "runs.csv")
    summary = _summary(folder)
    for name, group in runs.groupby("contender"):
        cpu = group["user_seconds"] + group["system_seconds"]
        assert summary.loc[name, "cpu_seconds"] == pytest.approx(cpu.median())
        cores = (cpu / group["wall_seconds"]).median()
        assert summary.loc[name, "cores_used"] == pytest.approx(cores)  # the factory: 1.0
