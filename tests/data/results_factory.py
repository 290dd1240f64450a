"""Write a synthetic results folder in exactly RESULTS.md's format, for the report tests."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FakeContender:
    """A contender's simulated speed: seconds of start-up, load, one epoch's train and eval."""

    name: str
    implementation: str
    algorithm: str = "batched"
    threads: int = 1
    startup: float = 0.01
    load: float = 0.05
    train: float = 0.03
    eval: float = 0.01
    peak_rss: float = 60e6
    fail: bool = False  # every run crashes (exit 3, status diverged)


DEFAULT_CONTENDERS = (
    FakeContender("python-numpy", "python-numpy", startup=0.15, load=0.2, train=0.08, eval=0.02),
    FakeContender("rust", "rust"),
)


@dataclass
class FakeRun:
    """What to put in the folder."""

    contenders: tuple[FakeContender, ...] = DEFAULT_CONTENDERS
    seeds: tuple[int, ...] = (1, 2, 3)
    runs: int = 3  # timed runs per (contender, seed)
    target: float = 0.9
    epochs: int = 20  # epochs to target of the reference trajectory
    late_seed: int | None = 2  # on this seed the non-reference contenders need one epoch more
    command: str = "python -m harness run --runs 3"
    parity: bool = True
    env: bool = True
    evaluator_disagrees: str | None = None  # contender whose claimed accuracy is off
    noise: float = 0.03  # relative stddev of the timings
    extra_run: dict = field(default_factory=dict)  # merged into run.json


def accuracy_curve(epoch: int, reach: int, target: float) -> float:
    """Accuracy rising to just above the target at epoch `reach`, 0.0004 below it just before."""
    if epoch >= reach:
        return round(target + 0.0005 + 0.001 * (epoch - reach), 4)
    return round(target - 0.0004 - 0.01 * (reach - 1 - epoch), 4)


def write_results(root: Path, fake: FakeRun | None = None) -> Path:
    """Create root/ with run.json, spec.json, env.json, parity.json, metrics/ and tables/."""
    fake = fake or FakeRun()
    rng = np.random.default_rng(7)
    (root / "tables").mkdir(parents=True, exist_ok=True)
    spec = root / "spec.json"
    spec.write_text('{"spec_version": 1}\n', encoding="utf-8")
    sha = hashlib.sha256(spec.read_bytes()).hexdigest()
    runs, epochs, evaluator, contenders = [], [], [], []
    outcomes = {}
    for index, c in enumerate(fake.contenders):
        command = f"{c.name} train --spec spec.json --init init/seed-{{seed}}.safetensors"
        contenders.append(
            {
                "contender": c.name,
                "implementation": c.implementation,
                "algorithm": c.algorithm,
                "threads": c.threads,
                "command": command,
            }
        )
        outcomes[c.name] = {
            "status": "failed" if c.fail else "ok",
            "exit_codes": [3] if c.fail else [0],
            "stderr_tail": "error: training diverged: loss is not finite at epoch 1, step 3"
            if c.fail
            else "",
            "note": "",
        }
        metrics = root / "metrics" / c.name
        metrics.mkdir(parents=True, exist_ok=True)
        for seed in fake.seeds:
            reach = fake.epochs + (1 if index > 0 and seed == fake.late_seed else 0)
            lines = []
            for r in range(fake.runs):
                run_id = f"{c.name}-{seed}-{r}"
                lines.append(json.dumps({"event": "start", "run_id": run_id, "spec_sha256": sha}))
                jitter = lambda x: x * (1 + fake.noise * rng.standard_normal())  # noqa: E731
                startup, load = jitter(c.startup), jitter(c.load)
                n_epochs = 1 if c.fail else reach
                elapsed = startup + load
                train_total = eval_total = 0.0
                for e in range(1, n_epochs + 1):
                    tr, ev = jitter(c.train), jitter(c.eval)
                    train_total, eval_total = train_total + tr, eval_total + ev
                    elapsed += tr + ev
                    acc = accuracy_curve(e, reach, fake.target)
                    epochs.append(
                        {
                            "contender": c.name,
                            "seed": seed,
                            "run_index": r,
                            "run_id": run_id,
                            "epoch": e,
                            "steps": 10 * e,
                            "train_seconds": tr,
                            "eval_seconds": ev,
                            "train_loss": 1.0 / e,
                            "test_correct": round(acc * 10000),
                            "test_accuracy": acc,
                            "elapsed_seconds": elapsed,
                        }
                    )
                metrics_wall = load + train_total + eval_total
                wall = startup + metrics_wall
                acc = accuracy_curve(n_epochs, reach, fake.target)
                runs.append(
                    {
                        "contender": c.name,
                        "seed": seed,
                        "run_index": r,
                        "run_id": run_id,
                        "wall_seconds": wall,
                        "user_seconds": wall * 0.95,
                        "system_seconds": wall * 0.05,
                        "max_rss_bytes": c.peak_rss,
                        "exit_code": 3 if c.fail else 0,
                        "status": "diverged" if c.fail else "reached_target",
                        "reached_target": not c.fail,
                        "epochs": n_epochs,
                        "steps": 10 * n_epochs,
                        "test_accuracy": acc,
                        "load_seconds": load,
                        "train_seconds": train_total,
                        "eval_seconds": eval_total,
                        "metrics_wall_seconds": metrics_wall,
                        "startup_seconds": startup,
                        "seconds_per_epoch": train_total / n_epochs,
                        "samples_per_second": 5000 * n_epochs / train_total,
                    }
                )
            (metrics / f"seed-{seed}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
            if not c.fail:
                claimed = accuracy_curve(reach, reach, fake.target)
                off = 0.01 if c.name == fake.evaluator_disagrees else 0.0
                evaluator.append(
                    {
                        "contender": c.name,
                        "seed": seed,
                        "model": f"models/{c.name}/seed-{seed}.safetensors",
                        "claimed_accuracy": claimed,
                        "harness_accuracy": claimed - off,
                        "agrees": off == 0.0,
                    }
                )
    pd.DataFrame(runs).to_csv(root / "tables" / "runs.csv", index=False)
    pd.DataFrame(epochs).to_csv(root / "tables" / "epochs.csv", index=False)
    pd.DataFrame(evaluator).to_csv(root / "tables" / "evaluator.csv", index=False)
    pd.DataFrame(contenders).to_csv(root / "tables" / "contenders.csv", index=False)
    run = {
        "schema_version": 1,
        "dataset": "mnist-mini",
        "target": fake.target,
        "seeds": list(fake.seeds),
        "runs": fake.runs,
        "warmup": 1,
        "reference": fake.contenders[0].name,
        "contenders": [
            {
                "name": c["contender"],
                "implementation": c["implementation"],
                "algorithm": c["algorithm"],
                "threads": c["threads"],
                "argv": c["command"].split(),
            }
            for c in contenders
        ],
        "command": fake.command,
        "hyperfine": {"path": "/usr/bin/hyperfine", "version": "2.0.0"},
        "parity": {"status": "passed" if fake.parity else "skipped"},
        "outcomes": outcomes,
        "interrupted": False,
        "started": "2026-11-28T18:00:00Z",
        "finished": "2026-11-28T18:05:00Z",
        **fake.extra_run,
    }
    (root / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    if fake.env:
        env = {
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
        (root / "env.json").write_text(json.dumps(env, indent=2), encoding="utf-8")
    if fake.parity:
        names = [c.name for c in fake.contenders]
        pairs = [
            {"a": names[0], "b": b, "tensor": t, "max_abs": 2e-7, "max_rel": 1e-6, "ok": True}
            for b in names[1:]
            for t in ("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias")
        ]
        parity = {
            "schema_version": 1,
            "steps": 5,
            "tolerance": {"abs": 1e-5, "rel": 1e-4},
            "status": "passed",
            "pairs": pairs,
            "losses": [
                {"contender": n, "step": s, "loss": 2.3 - 0.1 * s} for n in names for s in (1, 2)
            ],
        }
        (root / "parity.json").write_text(json.dumps(parity, indent=2), encoding="utf-8")
    return root


def report_from_tables(folder: Path) -> Path:
    """analyze -> plot -> render a factory folder: its tables stand in for ingest's."""
    from harness.analyze import analyze
    from harness.plot import plot
    from harness.report import render

    analyze(folder)
    plot(folder)
    return render(folder)


def report_from_exports(files: list[Path], out: Path) -> Path:
    """`report --hyperfine-json FILE... --out OUT`, through the command line; the report."""
    from harness.__main__ import main

    assert main(["report", "--hyperfine-json", *map(str, files), "--out", str(out), "--quiet"]) == 0
    return out / "report.html"
