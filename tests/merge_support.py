"""Helpers of the merge tests: folders of distinct machines, and checks of a merged result
against every input folder's own files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from data.results_factory import FakeContender, FakeRun, write_results

from harness.model.analysis import read_analysis
from harness.model.records import read_manifest
from harness.presentation import formats

EXAMPLE = Path(__file__).resolve().parent / "data" / "example-run"
BASE_ENV: dict[str, Any] = json.loads((EXAMPLE / "env.json").read_text())

FOUR = (
    FakeContender("python-numpy", "python-numpy", startup=0.15, load=0.2, train=0.08, eval=0.02),
    FakeContender("rust", "rust"),
    FakeContender(
        "python-numpy-parallel", "python-numpy", threads=2, startup=0.15, load=0.2, train=0.05
    ),
    FakeContender("rust-parallel", "rust", threads=2, train=0.018),
)


def env_of(host: str, cpu: str, kernel: str, **extra: Any) -> dict[str, Any]:
    """A real env.json (the example run's) describing another machine."""
    env = json.loads(json.dumps(BASE_ENV))
    env.update(hostname=host, cpu_model=cpu, **extra)
    env["numpy"]["blas"][0]["architecture"] = kernel
    return env


def write_env(folder: Path, env: dict[str, Any]) -> None:
    (folder / "env.json").write_text(json.dumps(env, indent=2), encoding="utf-8")


def machine_folder(root: Path, name: str, env: dict[str, Any], seed: int = 7, **fake: Any) -> Path:
    """A factory folder (four contenders, 3 seeds x 3 rounds) on the machine env describes,
    analysed as `report` would (analysis.json, summary.csv)."""
    from harness.analysis.analyze import analyze

    folder = write_results(root / name, FakeRun(contenders=FOUR, random_seed=seed, **fake))
    write_env(folder, env)
    analyze(folder)
    return folder


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def check_single_folder_machine(merged: dict[str, Any], label: str, folder: Path) -> int:
    """Every number of a one-folder machine in merged.json equals the folder's own: the
    analysis.json ratios, CIs, p-values, verdicts and pair counts, the contenders' GFLOP/s and
    fractions, the sgemm rates of run.json, env.json's facts. Returns the numbers checked."""
    analysis = read_analysis(folder).to_dict()
    env = json.loads((folder / "env.json").read_text())
    group = next(g for g in merged["groups"] if any(m["label"] == label for m in g["machines"]))
    gm = next(m for m in group["machines"] if m["label"] == label)
    assert gm["folders"] == [str(folder)]
    floor = read_manifest(folder).floor.get("sgemm_gflops") or {}
    assert {int(k): v for k, v in gm["sgemm"].items()} == {int(k): v for k, v in floor.items()}
    checked = len(floor)
    machine = merged["machines"][label]
    assert machine["cpu_model"] == env["cpu_model"]
    assert machine["logical_cores"] == env["logical_cores"]
    assert machine["memory_gib"] == round(env["memory_bytes"] / 2**30, 1)
    assert machine["blas_kernel"] == env["numpy"]["blas"][0]["architecture"]
    assert machine["numpy"] == env["numpy"]["version"]
    assert machine["commit"] == env["git"]["commit"]
    assert env["rustc"].split()[1] == machine["rustc"]
    checked += 7
    comparisons = {c["contender"]: c for c in analysis["comparisons"]}
    pairs = [p for p in group["pairs"] if p["machine"] == label]
    assert {(p["contender"], p["reference"]) for p in pairs} == {
        (c["contender"], c["reference"]) for c in analysis["comparisons"]
    }
    for p in pairs:
        c = comparisons[p["contender"]]
        for key in ("ratio", "ci_low", "ci_high", "p_value"):
            assert close(p[key], c[key]), (label, p["contender"], key, p[key], c[key])
        assert (p["verdict"], p["n"], p["paired"]) == (c["verdict"], c["n"], c["paired"])
        assert p["folders"] == 1 and close(p["folder_ratios"][0], c["ratio"])
        checked += 8
    summaries = {s["name"]: s for s in analysis["contenders"]}
    for row in (r for r in group["contenders"] if r["machine"] == label):
        s = summaries[row["contender"]]
        assert close(row["gflops"], s["train_gflops"])
        assert close(row["sgemm_fraction"], s["sgemm_fraction"])
        assert close(row["seconds_per_epoch"], s["seconds_per_epoch"]["median"])
        assert row["runs"] == s["successes"] and row["threads"] == s["threads"]
        if s["successes"]:
            assert close(row["median_seconds"], s["wall"]["median"])
        checked += 6
    for p in pairs:  # each side's GFLOP/s and fraction in the pair row are its contender's
        s, r = summaries[p["contender"]], summaries[p["reference"]]
        assert close(p["gflops"], s["train_gflops"]) and close(
            p["reference_gflops"], r["train_gflops"]
        )
        assert close(p["sgemm_fraction"], s["sgemm_fraction"])
        assert close(p["reference_sgemm_fraction"], r["sgemm_fraction"])
        checked += 4
    return checked


def check_summary_cells(summary_md: str, merged: dict[str, Any]) -> int:
    """Each pair row of summary.md shows its merged.json ratio and CI, formatted."""
    checked = 0
    for group in merged["groups"]:
        for p in group["pairs"]:
            cell = f"{formats.ratio(p['ratio'])}x"
            if p["ci_low"] is not None:
                cell += f" ({formats.ratio(p['ci_low'])}-{formats.ratio(p['ci_high'])})"
            label = formats.md(p["machine"])
            rows = [line for line in summary_md.splitlines() if line.startswith(f"| {label} | ")]
            assert any(f"| {cell} | {p['verdict']} |" in line for line in rows), (label, cell)
            checked += 1
    return checked
