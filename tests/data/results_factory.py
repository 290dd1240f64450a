"""Write a synthetic results folder in exactly RESULTS.md's format, for the analysis tests.

Each timed process's wall time is the sum of its parts (outside main, load, set-up, every
epoch's train and eval), each jittered by `noise`; a per-round factor (`round_noise`) slows
every contender of a round at once, as a machine-wide slow spell would.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.model.records import (
    ContenderEntry,
    ContenderOutcome,
    Failure,
    Manifest,
    Outcome,
    write_manifest,
    write_outcome,
)
from harness.model.tables import (
    ContenderRow,
    EpochRecord,
    EvaluatorRow,
    RunRecord,
    write_rows,
)

TRAIN_FLOPS = 2.1e9  # per epoch of the synthetic workload
SGEMM = {"1": 80.0, "2": 150.0}  # GFLOP/s of the synthetic machine


@dataclass(frozen=True)
class FakeContender:
    """A contender's simulated speed: seconds outside main, of load, set-up, one epoch."""

    name: str
    implementation: str
    algorithm: str = "batched"
    threads: int = 1
    startup: float = 0.01
    load: float = 0.05
    setup: float = 0.01
    train: float = 0.03
    eval: float = 0.01
    peak_rss: float = 60e6
    fail: bool = False  # every run crashes (exit 3, status diverged)
    language: str | None = None  # the 2x2's row (harness.analysis.grid)
    approach: str | None = None  # the 2x2's column: from-scratch or framework


DEFAULT_CONTENDERS = (
    FakeContender("python-numpy", "python-numpy", startup=0.15, load=0.2, train=0.08, eval=0.02),
    FakeContender("rust", "rust"),
)


@dataclass
class FakeRun:
    """What to put in the folder."""

    contenders: tuple[FakeContender, ...] = DEFAULT_CONTENDERS
    seeds: tuple[int, ...] = (1, 2, 3)
    runs: int = 3  # timed rounds: each runs every (contender, seed) once
    rounds: bool = True  # False: no round column (an older folder), pair by run index
    target: float = 0.9
    epochs: int = 20  # epochs to target of the reference trajectory
    late_seed: int | None = 2  # on this seed the non-reference contenders need one epoch more
    command: str = "python -m harness run --runs 3"
    dataset: str = "mnist-mini"
    parity: bool = True
    env: bool = True
    floor: bool = True
    evaluator_disagrees: str | None = None  # contender whose claimed accuracy is off
    noise: float = 0.03  # relative stddev of each timed part
    round_noise: float = 0.0  # relative stddev of a per-round factor shared by all contenders
    round_factors: dict[int, float] = field(default_factory=dict)  # round (1-based) -> slowdown
    invalid: dict[str, str] = field(default_factory=dict)  # run_id -> problem
    outcome: dict[str, Any] = field(default_factory=dict)  # Outcome fields to set
    random_seed: int = 7


def accuracy_curve(epoch: int, reach: int, target: float, late: bool = False) -> float:
    """Accuracy rising to just above the target at epoch `reach`, 0.0004 below it just before.

    `late`: a contender that needs this one epoch more on the late seed follows the
    reference's curve (which reaches the target at `reach - 1`) but falls 0.0004 short at
    that epoch: float rounding at the threshold, within the trajectory band, as real
    contenders differ.
    """
    if epoch >= reach:
        return round(target + 0.0005 + 0.001 * (epoch - reach), 4)
    if late:
        return (
            accuracy_curve(epoch, reach - 1, target)
            if epoch < reach - 1
            else round(target - 0.0004, 4)
        )
    return round(target - 0.0004 - 0.01 * (reach - 1 - epoch), 4)


def _process(
    c: FakeContender,
    seed: int,
    r: int,
    reach: int,
    fake: FakeRun,
    factor: float,
    rng: Any,
    late: bool = False,
) -> tuple[RunRecord, list[EpochRecord]]:
    """One timed process: its runs.csv row and its epochs."""
    run_id = f"{c.name}-{seed}-{r}"

    def jitter(x: float) -> float:
        return x * factor * (1 + fake.noise * rng.standard_normal())

    startup, load, setup = jitter(c.startup), jitter(c.load), jitter(c.setup)
    n_epochs = 1 if c.fail else reach
    elapsed = startup + load + setup
    train_total = eval_total = 0.0
    epochs = []
    for e in range(1, n_epochs + 1):
        tr, ev = jitter(c.train), jitter(c.eval)
        train_total, eval_total, elapsed = train_total + tr, eval_total + ev, elapsed + tr + ev
        acc = accuracy_curve(e, reach, fake.target, late)
        epochs.append(
            EpochRecord(
                c.name, str(seed), r, run_id, e, 10 * e, tr, ev, 1.0 / e, round(acc * 1e4), acc,
                elapsed,
            )
        )  # fmt: skip
    metrics_wall = load + setup + train_total + eval_total
    wall = startup + metrics_wall
    problem = fake.invalid.get(run_id, "")
    status = "invalid" if problem else ("diverged" if c.fail else "reached_target")
    started = datetime(2026, 11, 28, 18, 0, tzinfo=UTC) + timedelta(seconds=60 * r)
    record = RunRecord(
        contender=c.name,
        seed=str(seed),
        round=r + 1 if fake.rounds else None,
        run_index=r,
        started_at=started.isoformat(timespec="milliseconds") if fake.rounds else None,
        run_id=run_id,
        wall_seconds=wall,
        user_seconds=wall * 0.95,
        system_seconds=wall * 0.05,
        max_rss_bytes=c.peak_rss,
        exit_code=3 if c.fail else 0,
        status=status,
        reached_target=None if problem else not c.fail,
        epochs=n_epochs,
        steps=10 * n_epochs,
        test_accuracy=accuracy_curve(n_epochs, reach, fake.target),
        load_seconds=load,
        train_seconds=train_total,
        eval_seconds=eval_total,
        setup_seconds=setup,
        metrics_wall_seconds=metrics_wall,
        startup_seconds=startup,
        seconds_per_epoch=train_total / n_epochs,
        samples_per_second=5000 * n_epochs / train_total,
        problem=problem,
    )
    return record, epochs


def write_results(root: Path, fake: FakeRun | None = None) -> Path:
    """Create root/ with run.json, outcome.json, spec.json, env.json, parity.json, metrics/ and
    tables/ (contenders, runs, epochs, evaluator), as prepare, measure and ingest would."""
    fake = fake or FakeRun()
    rng = np.random.default_rng(fake.random_seed)
    root.mkdir(parents=True, exist_ok=True)
    spec = root / "spec.json"
    spec.write_text('{"spec_version": 1}\n', encoding="utf-8")
    sha = hashlib.sha256(spec.read_bytes()).hexdigest()
    runs: list[RunRecord] = []
    epochs: list[EpochRecord] = []
    factors = 1 + fake.round_noise * rng.standard_normal(fake.runs)
    factors *= [fake.round_factors.get(r + 1, 1.0) for r in range(fake.runs)]
    for r in range(fake.runs):
        for seed in fake.seeds:
            for index, c in enumerate(fake.contenders):
                late = index > 0 and seed == fake.late_seed
                reach = fake.epochs + late
                record, log = _process(c, seed, r, reach, fake, float(factors[r]), rng, late)
                runs.append(record)
                epochs += log
    for c in fake.contenders:
        for seed in fake.seeds:
            starts = [
                json.dumps({"event": "start", "run_id": x.run_id, "spec_sha256": sha})
                for x in runs
                if x.contender == c.name and x.seed == str(seed)
            ]
            path = root / "metrics" / c.name / f"seed-{seed}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(starts) + "\n", encoding="utf-8")
    tables = root / "tables"
    write_rows(tables / "runs.csv", RunRecord, runs)
    write_rows(tables / "epochs.csv", EpochRecord, epochs)
    write_rows(tables / "evaluator.csv", EvaluatorRow, _evaluator(fake))
    argv = {
        c.name: [c.name, "train", "--spec", "spec.json", "--init", "init/seed-{seed}.safetensors"]
        for c in fake.contenders
    }
    write_rows(
        tables / "contenders.csv",
        ContenderRow,
        [
            ContenderRow(c.name, c.implementation, c.algorithm, c.threads, " ".join(argv[c.name]))
            for c in fake.contenders
        ],
    )
    write_manifest(root, _manifest(fake, sha, argv))
    write_outcome(root, _outcome(fake))
    if fake.env:
        (root / "env.json").write_text(json.dumps(ENV, indent=2), encoding="utf-8")
    if fake.parity:
        (root / "parity.json").write_text(json.dumps(_parity(fake), indent=2), encoding="utf-8")
    return root


def _manifest(fake: FakeRun, sha: str, argv: dict[str, list[str]]) -> Manifest:
    floor = {"train_flops_per_epoch": TRAIN_FLOPS, "eval_flops_per_epoch": 1.6e9}
    floor |= {"sgemm_gflops": SGEMM, "blas": "openblas 0.3.27 (Haswell)"}
    return Manifest(
        contenders=[
            ContenderEntry(
                c.name,
                argv[c.name],
                c.implementation,
                c.algorithm,
                c.threads,
                language=c.language,
                approach=c.approach,
            )
            for c in fake.contenders
        ],
        reference=fake.contenders[0].name,
        command_line=fake.command,
        dataset={"name": fake.dataset, "dir": "/data/mnist-mini"},
        target=fake.target,
        spec_sha256=sha,
        max_epochs=50,
        seeds=list(fake.seeds),
        runs=fake.runs,
        warmup=1,
        hyperfine={"path": "/usr/bin/hyperfine", "version": "2.0.0"},
        parity_steps=5 if fake.parity else None,
        floor=floor if fake.floor else {},
    )


def _outcome(fake: FakeRun) -> Outcome:
    outcomes = {}
    for c in fake.contenders:
        failures = [
            Failure(
                str(seed), [3], 3, "exit code 3 (training diverged)",
                "error: training diverged: loss is not finite at epoch 1, step 3",
                f"stderr/{c.name}/seed-{seed}.txt",
            )
            for seed in fake.seeds
        ] if c.fail else []  # fmt: skip
        outcomes[c.name] = ContenderOutcome("failed" if c.fail else "ok", failures)
    fields: dict[str, Any] = {
        "started": "2026-11-28T18:00:00.000+00:00",
        "finished": "2026-11-28T18:05:00.000+00:00",
        "parity_status": "passed" if fake.parity else "skipped",
        "outcomes": outcomes,
        "rounds_done": fake.runs if fake.rounds else 0,
        "stop_reason": "rounds" if fake.rounds else "",
    }
    return Outcome(**{**fields, **fake.outcome})


def _evaluator(fake: FakeRun) -> list[EvaluatorRow]:
    rows = []
    for index, c in enumerate(fake.contenders):
        if c.fail:
            continue
        for seed in fake.seeds:
            reach = fake.epochs + (1 if index > 0 and seed == fake.late_seed else 0)
            claimed = round(accuracy_curve(reach, reach, fake.target) * 10000)
            off = 100 if c.name == fake.evaluator_disagrees else 0
            rows.append(
                EvaluatorRow(
                    c.name, str(seed), f"{c.name}-{seed}-{fake.runs - 1}",
                    f"models/{c.name}/seed-{seed}.safetensors", "reached_target", claimed,
                    claimed - off, 10000, True, (claimed - off) > fake.target * 10000, off == 0,
                    f"claimed {claimed} correct, the harness counts {claimed - off}" if off else "",
                )
            )  # fmt: skip
    return rows


def _parity(fake: FakeRun) -> dict[str, Any]:
    names = [c.name for c in fake.contenders]
    pairs = [
        {"a": names[0], "b": b, "tensor": t, "max_abs": 2e-7, "max_rel": 1e-6, "ok": True}
        for b in names[1:]
        for t in ("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias")
    ]
    losses = [{"contender": n, "step": s, "loss": 2.3 - 0.1 * s} for n in names for s in (1, 2)]
    return {
        "schema_version": 1,
        "steps": 5,
        "tolerance": {"abs": 1e-5, "rel": 1e-4},
        "status": "passed",
        "pairs": pairs,
        "losses": losses,
    }


ENV = {
    "schema_version": 1,
    "cpu_model": "Synthetic CPU @ 3.0GHz",
    "cpu_cores": 2,
    "memory_bytes": 8 * 2**30,
    "os": "Linux 6.1",
    "python_version": "3.11.9",
    "numpy_version": "2.4.6",
    "blas": "openblas 0.3.27",
    "rustc_version": "rustc 1.80.0",
    "cargo_version": "cargo 1.80.0",
    "hyperfine_version": "2.0.0",
    "git_commit": "2853c0e",
    "git_dirty": False,
}


def assert_verdicts_agree_with_cis(summary: pd.DataFrame) -> int:
    """Every summary.csv row: the verdict is the one the speed-up's CI gives; rows checked."""
    checked = 0
    for name, row in summary.iterrows():
        if row["verdict"] == "reference" or pd.isna(row["speedup_vs_reference"]):
            continue
        low, high = row["speedup_ci_low"], row["speedup_ci_high"]
        if pd.isna(low):
            assert row["verdict"] == "inconclusive", name
        elif low > 1:
            assert row["verdict"] == "faster" and row["p_value"] < 0.05, name
        elif high < 1:
            assert row["verdict"] == "slower" and row["p_value"] < 0.05, name
        else:
            band = low >= 0.95 and high <= 1.05
            assert row["verdict"] == ("equivalent" if band else "inconclusive"), name
            assert row["p_value"] >= 0.05, name
        assert low <= row["speedup_vs_reference"] <= high if not pd.isna(low) else True
        checked += 1
    return checked


def report_from_tables(folder: Path) -> Path:
    """analyze -> plot -> render a factory folder: its tables stand in for ingest's."""
    from harness.analysis.analyze import analyze
    from harness.presentation.plot import plot
    from harness.presentation.report import render

    analyze(folder)
    plot(folder)
    return render(folder)


def report_from_exports(files: list[Path], out: Path) -> Path:
    """`report --hyperfine-json FILE... --out OUT`, through the command line; the report."""
    from harness.__main__ import main

    assert main(["report", "--hyperfine-json", *map(str, files), "--out", str(out), "--quiet"]) == 0
    return out / "report.html"
