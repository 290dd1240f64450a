"""`report DIR` on a real, checked-in results folder (tests/data/example-run) gives the numbers
that its raw files imply, computed here independently of the harness's own code.

The folder is a pruned copy of one default `python -m harness run` on this project's 2-core
development machine (3 contenders x 3 seeds x 3 runs, mnist-mini): run.json, spec.json,
env.json, parity.json, hyperfine.json and the metrics streams; no models, tables or plots.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import shutil
import statistics
from pathlib import Path

import pytest
from data.results_factory import assert_verdicts_agree_with_cis

from harness.__main__ import main
from harness.model.tables import SummaryRow, read_table

EXAMPLE = Path(__file__).parent / "data" / "example-run"
MINI = Path(__file__).resolve().parent.parent / "harness" / "preparation" / "data" / "mnist-mini"


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example folder after `python -m harness report DIR`."""
    run_dir = tmp_path_factory.mktemp("example") / "run"
    shutil.copytree(EXAMPLE, run_dir)
    spec = json.loads((run_dir / "spec.json").read_text())
    spec["dataset"]["dir"] = str(MINI)  # the copy's own embedded data, wherever the clone is
    (run_dir / "spec.json").write_text(json.dumps(spec, indent=2))
    assert main(["report", str(run_dir), "--quiet"]) == 0
    return run_dir


def wall_times() -> dict[str, list[float]]:
    """Every timed wall time per contender, straight from hyperfine's schema-2 export."""
    export = json.loads((EXAMPLE / "hyperfine.json").read_text())
    assert export["schema_version"] == 2
    times: dict[str, list[float]] = {}
    for result in export["results"]:
        walls = [m["time_wall_clock"]["value"] for m in result["measurements"]]
        times.setdefault(result["name"], []).extend(walls)
    return times


def test_the_summary_medians_are_hyperfines_medians(rebuilt: Path) -> None:
    """Each contender's median wall time in analysis.json is the median of its 9 runs."""
    analysis = json.loads((rebuilt / "analysis.json").read_text())
    by_name = {c["name"]: c for c in analysis["contenders"]}
    for name, walls in wall_times().items():
        assert len(walls) == 9
        assert by_name[name]["wall"]["median"] == pytest.approx(statistics.median(walls))
        assert by_name[name]["wall"]["min"] == pytest.approx(min(walls))


def paired_walls() -> dict[tuple[str, str, int], float]:
    """(contender, seed, run index) -> wall time, from hyperfine's export."""
    export = json.loads((EXAMPLE / "hyperfine.json").read_text())
    out = {}
    for result in export["results"]:
        seed = result["parameters"]["seed"]["value"]
        for k, m in enumerate(result["measurements"]):
            out[(result["name"], seed, k)] = m["time_wall_clock"]["value"]
    return out


def test_the_ratios_are_geometric_means_of_paired_runs_and_thread_counts_stay_apart(
    rebuilt: Path,
) -> None:
    """Speed-up = exp(mean ln(t_numpy / t_contender)) over runs paired by seed and run index,
    to 2 decimals, threads named; rust-parallel (2 threads) has no 2-thread python-numpy, so
    its ratio is in the cross-thread list only, never in the headline."""
    walls = paired_walls()
    summary = (rebuilt / "summary.md").read_text()
    run = json.loads((EXAMPLE / "run.json").read_text())
    threads = {c["name"]: c["threads"] for c in run["contenders"]}
    assert threads == {"python-numpy": 1, "rust": 1, "rust-parallel": 2}
    head, cross = summary.split("Cross-thread ratios")
    for name, label, part in (
        ("rust", "rust (1 thread)", head.split("| contender")[0]),
        ("rust-parallel", "rust-parallel (2 threads)", cross),
    ):
        logs = [
            math.log(walls[("python-numpy", seed, k)] / walls[(name, seed, k)])
            for (who, seed, k) in walls
            if who == name
        ]
        assert len(logs) == 9
        ratio = math.exp(statistics.fmean(logs))
        assert f"{label} is {ratio:.2f}x faster than python-numpy (1 thread)" in part
    assert "2 threads" not in head.split("| contender")[0]


def test_every_summary_row_of_the_example_has_the_verdict_its_ci_gives(rebuilt: Path) -> None:
    summary = read_table(rebuilt / "tables" / "summary.csv", SummaryRow).set_index("contender")
    assert assert_verdicts_agree_with_cis(summary) == 1  # rust; rust-parallel has no peer
    assert summary.loc["rust", "verdict"] == "faster"
    assert summary.loc["rust", "reference"] == "python-numpy"


def test_every_run_is_paired_and_each_seed_needs_the_same_epochs_in_every_contender(
    rebuilt: Path,
) -> None:
    """runs.csv pairs each hyperfine run with a run_id; all reached the target, and on each
    seed (same initial model, same batches) all contenders needed the same epochs."""
    with (rebuilt / "tables" / "runs.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 27
    assert all(re.fullmatch(r"[0-9a-f-]{36}", r["run_id"]) for r in rows)
    assert {r["status"] for r in rows} == {"reached_target"}
    for seed in ("1", "2", "3"):
        assert len({r["epochs"] for r in rows if r["seed"] == seed}) == 1, seed


def test_the_report_shows_the_spec_hash_and_the_parity_verdict(rebuilt: Path) -> None:
    """The fairness section names the sha256 of spec.json as run and the parity result."""
    html = (rebuilt / "report.html").read_text()
    original = json.loads((EXAMPLE / "run.json").read_text())["spec_sha256"]
    assert original in html
    assert original == hashlib.sha256((EXAMPLE / "spec.json").read_bytes()).hexdigest()
    assert "passed" in html and "parity" in html.lower()
