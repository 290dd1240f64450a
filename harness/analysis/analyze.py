"""The analyze stage: tables + run.json/outcome.json -> analysis.json and tables/summary.csv.

analysis.json holds numbers, names and codes only; every sentence and number format is the
report stage's (wording). The statistics are stats, which runs count and pair
pairing, the fairness evidence fairness; this module reads the folder and
assembles the two files. Runs marked `invalid` (a metrics stream problem) are left out of every
statistic and listed per contender with their problem. `comparisons` are like for like (equal
threads); ratios against the main reference at another thread count are `cross_thread`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import decompose, fairness, grid, pairing, reliability, stats, trajectory
from harness.model.analysis import Analysis, write_analysis
from harness.model.folder import Folder
from harness.model.records import Outcome
from harness.model.tables import (
    ContenderRow,
    EpochRecord,
    EvaluatorRow,
    SummaryRow,
    read_table,
    write_rows,
)

MIB = 2**20


@dataclass(frozen=True)
class AnalysisConfig(stats.StatsConfig, reliability.ReliabilityConfig):
    """The statistics' knobs plus those of the folder-level checks."""

    sweep_steps: int = 5  # lower targets in the time-to-target sweep (plus the target itself)
    sweep_span: float = 0.10  # the sweep covers [target - span, target]
    rounding_margin: float = 0.005  # accuracy this close to the target counts as a rounding tie
    busy_share: float = 0.10  # other processes using more than this share of a core: warn
    slow_round_factor: float = 1.10  # a round where every contender took > 1.10x its median


def summarize(
    name: str, frame: pd.DataFrame, info: dict[str, Any], inputs: dict[str, Any]
) -> dict[str, Any]:
    """Statistics of one contender's valid timed runs (wall time of the successful ones)."""
    cfg, outcome, floor = inputs["cfg"], inputs["outcome"], inputs["manifest"].floor
    valid = frame[frame["status"] != "invalid"]
    ok = valid[valid["ok"]]
    timed = ok if len(ok) else valid
    wall = stats.finite(timed["wall_seconds"])
    spe = stats.describe(stats.finite(ok["seconds_per_epoch"]), cfg.confidence)
    split = pairing.median_split(ok)
    result = outcome.outcomes.get(name)
    notes = stats.instability(wall, cfg)
    if len(valid) and not len(ok):
        notes.insert(0, {"code": "no_success"})
    invalid = frame[frame["status"] == "invalid"]
    gflops = fraction = None
    flops, sgemm = floor.get("train_flops_per_epoch"), (floor.get("sgemm_gflops") or {})
    if flops and spe["median"]:
        gflops = float(flops) / spe["median"] / 1e9
        rate = sgemm.get(str(info.get("threads")))
        fraction = gflops / float(rate) if rate else None
    status = result.status if result else ("ok" if len(ok) else "failed")
    if len(frame) and invalid.shape[0] == len(frame):
        status = "invalid"
    rss = stats.median(timed["max_rss_bytes"])
    return {
        "name": name,
        **info,
        "status": status,
        "runs": len(frame),
        "valid_runs": len(valid),
        "successes": len(ok),
        "success_rate": len(ok) / len(valid) if len(valid) else None,
        "wall": stats.describe(wall, cfg.confidence),
        "wall_samples": [float(x) for x in stats.finite(ok["wall_seconds"])],
        "seconds_per_epoch": spe,
        "user_median": stats.median(timed["user_seconds"]),
        "system_median": stats.median(timed["system_seconds"]),
        # CPU seconds per process (hyperfine's user + system) and the cores it kept busy
        "cpu_median": stats.median(timed["user_seconds"] + timed["system_seconds"]),
        "cores_used_median": stats.median(
            (timed["user_seconds"] + timed["system_seconds"]) / timed["wall_seconds"]
        ),
        "max_rss_mib": rss / MIB if rss else None,
        "split": split,
        "startup_load": split["outside"] + split["load"] if split else None,
        "eval_share": split["eval"] / split["total"] if split and split["total"] else None,
        "epochs_median": stats.median(ok["epochs"]),
        "samples_per_second_median": stats.median(ok["samples_per_second"]),
        "train_gflops": gflops,
        "sgemm_fraction": fraction,
        "exit_codes": sorted({int(e) for e in stats.finite(frame["exit_code"]) if e}),
        "failures": [asdict(f) for f in result.failures] if result else [],
        "invalid": invalid[["seed", "round", "run_index", "problem"]].to_dict(orient="records"),
        "warnings": notes,
    }


def target_sweep(
    epochs: pd.DataFrame | None, valid: pd.DataFrame, target: float | None, cfg: AnalysisConfig
) -> dict[str, Any]:
    """Time to each lower target, from the epoch log: the first epoch whose accuracy passes it."""
    if epochs is None or epochs.empty or target is None:
        return {"targets": [], "rows": []}
    top = float(target)
    span = np.linspace(top - cfg.sweep_span, top, cfg.sweep_steps + 1)
    targets = [round(float(t), 4) for t in span if t > 0]
    epochs = epochs[epochs["run_id"].isin(set(valid["run_id"]))]  # invalid runs' epochs out
    rows = []
    for contender, log in epochs.groupby("contender", sort=False):
        n_runs = int((valid["contender"] == contender).sum())
        for t in targets:
            passed = log[log["test_accuracy"] > t].sort_values("epoch")
            first = passed.groupby(["seed", "run_index"], sort=False).head(1)
            rows.append(
                {
                    "contender": contender,
                    "target": t,
                    "median_seconds": stats.median(first["elapsed_seconds"]),
                    "median_epochs": stats.median(first["epoch"]),
                    "reached_fraction": len(first) / n_runs if n_runs else None,
                }
            )
    return {"targets": targets, "rows": rows}


def thread_scaling(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Contenders sharing implementation+algorithm with several thread counts."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in summaries:
        if s.get("implementation") and s.get("threads") is not None:
            groups.setdefault((s["implementation"], s.get("algorithm") or ""), []).append(s)
    out = []
    for (impl, algo), members in groups.items():
        if len({m["threads"] for m in members}) > 1:
            points = [{"threads": m["threads"], "median": m["wall"]["median"]} for m in members]
            points.sort(key=lambda p: p["threads"])
            out.append({"implementation": impl, "algorithm": algo, "points": points})
    return out


def noise(ok: pd.DataFrame, outcome: Outcome, cfg: AnalysisConfig) -> dict[str, Any]:
    """The machine while measuring (outcome.json) and the rounds where everyone was slow."""
    times: dict[str, dict[int, float]] = {}
    timed = ok.dropna(subset=["round", "wall_seconds"])
    for (name, rnd), group in timed.groupby(["contender", "round"]):
        times.setdefault(str(name), {})[int(rnd)] = float(group["wall_seconds"].median())
    share = stats.number(outcome.noise.get("other_share"))
    return {
        "other_share": share,
        "busy": share is not None and share > cfg.busy_share,
        "busy_threshold": cfg.busy_share,
        "busiest": list(outcome.noise.get("busiest") or []),
        "load_before": outcome.noise.get("load_before"),
        "load_after": outcome.noise.get("load_after"),
        "governor": outcome.noise.get("governor"),
        "note": outcome.noise.get("note"),
        "slow_rounds": stats.slow_rounds(times, cfg.slow_round_factor),
        "slow_round_factor": cfg.slow_round_factor,
    }


def blas_name(floor: dict[str, Any]) -> str | None:
    """The BLAS the sgemm rate was measured with: `blas`, else prepare's per-thread details."""
    if floor.get("blas"):
        return str(floor["blas"])
    first = next(iter((floor.get("sgemm") or {}).values()), None)
    if not isinstance(first, dict) or not first.get("blas_api"):
        return None
    arch = f" ({first['blas_architecture']})" if first.get("blas_architecture") else ""
    return f"{first['blas_api']} {first.get('blas_version', '')}".strip() + arch


def read_inputs(folder: Folder, cfg: AnalysisConfig) -> dict[str, Any]:
    """Everything analyze reads, typed: the folder's manifest, outcome and parity.json (read
    once, by the Folder), and the tables ingest wrote."""
    tables = folder.path / "tables"
    manifest = folder.manifest
    inputs = {
        "cfg": cfg,
        "manifest": manifest,
        "outcome": folder.outcome,
        "runs": pairing.load_runs(folder.path),
        "epochs": read_table(tables / "epochs.csv", EpochRecord),
        "contenders": read_table(tables / "contenders.csv", ContenderRow),
        "evaluator": read_table(tables / "evaluator.csv", EvaluatorRow),
        "parity": folder.parity,
        "env": folder.env is not None,
    }
    order = [c.name for c in manifest.contenders]
    if inputs["contenders"] is not None:
        order += [c for c in inputs["contenders"]["contender"] if c not in order]
    order += [c for c in inputs["runs"]["contender"].drop_duplicates() if c not in order]
    inputs["order"] = order
    ref = manifest.reference
    inputs["reference"] = ref if ref in order else (order[0] if order else None)
    return inputs


def info(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """implementation, algorithm and threads of a contender: run.json, else contenders.csv."""
    out: dict[str, Any] = {"implementation": None, "algorithm": None, "threads": None}
    entry = next((c for c in inputs["manifest"].contenders if c.name == name), None)
    if entry is not None:
        out = {"implementation": entry.implementation or None, "algorithm": entry.algorithm or None}
        out["threads"] = entry.threads
    table = inputs["contenders"]
    if table is not None and (table["contender"] == name).any():
        row = table[table["contender"] == name].iloc[0]
        for key in ("implementation", "algorithm", "threads"):
            if out[key] is None and pd.notna(row[key]) and row[key] != "":
                out[key] = int(row[key]) if key == "threads" else str(row[key])
    out["language"] = entry.language if entry else None
    out["approach"] = entry.approach if entry else None
    return out


def build_analysis(
    where: Folder | Path, cfg: AnalysisConfig | None = None, inputs: dict[str, Any] | None = None
) -> Analysis:
    """Everything the plots and the report show: numbers and names, checked against the model
    (harness.model.analysis; `inputs`: read_inputs's result when the caller has read them)."""
    folder = Folder.of(where)
    cfg = inputs["cfg"] if inputs else cfg or AnalysisConfig()
    inputs = inputs or read_inputs(folder, cfg)
    runs, order, manifest, outcome = (inputs[k] for k in ("runs", "order", "manifest", "outcome"))
    valid = runs[runs["status"] != "invalid"]
    ok = {name: valid[(valid["contender"] == name) & valid["ok"]] for name in order}
    summaries = {
        name: summarize(name, runs[runs["contender"] == name], info(name, inputs), inputs)
        for name in order
    }
    target = manifest.target
    references = reliability.reference_kind(summaries, inputs["reference"])
    reached = set(valid.loc[valid["status"] == "reached_target", "run_id"])
    departures = trajectory.departures(inputs["epochs"], references, target, reached)
    for name, s in summaries.items():
        s["integrity"] = reliability.integrity(
            runs[runs["contender"] == name], departures.get(name, [])
        )
        if s["integrity"]["status"] != "ok":
            s["status"] = s["integrity"]["status"]  # invalid or not_comparable
    like, cross = pairing.comparisons(summaries, ok, inputs["reference"], cfg)
    facts = noise(valid[valid["ok"]], outcome, cfg)
    reliability.judge(like, summaries, ok, facts, cfg)
    decomposition = decompose.decompositions(summaries, ok, inputs["reference"], cfg)
    reliability.withhold(decomposition, like)
    usable = [
        c for c in like if c["ratio"] is not None and c["verdict"] not in reliability.NO_VERDICT
    ]
    precisions = [p for p in (stats.precision(c) for c in usable) if p is not None]
    dataset = manifest.dataset.get("name") if manifest.dataset else None
    data = {
        "config": asdict(cfg),
        "reference": inputs["reference"],
        "target": target,
        "dataset": dataset,
        "has_metrics": bool((runs["status"] != "no_metrics").any()),
        "environment_present": inputs["env"],
        "contenders": list(summaries.values()),
        "comparisons": like,
        "cross_thread": cross,
        "headline": max(usable, key=lambda c: c["ratio"])["contender"] if usable else None,
        "target_sweep": target_sweep(inputs["epochs"], valid, target, cfg),
        "fairness": {
            "spec_sha256": fairness.spec_hashes(folder.path, manifest),
            "parity": fairness.parity(inputs["parity"], manifest, outcome),
            "seeds": fairness.seed_epochs(
                valid[valid["ok"]], inputs["epochs"], order, target, cfg.rounding_margin
            ),
            "evaluator": fairness.evaluator_rows(inputs["evaluator"]),
        },
        "thread_scaling": thread_scaling(list(summaries.values())),
        "grid": grid.grids(summaries, ok, inputs["reference"], cfg),
        "decomposition": decomposition,
        "floor": {
            "blas": blas_name(manifest.floor),
            "sgemm_gflops": manifest.floor.get("sgemm_gflops"),
        },
        "noise": facts,
        "measuring": {
            "interrupted": outcome.interrupted,
            "stop_reason": outcome.stop_reason,
            "rounds_done": outcome.rounds_done,
            "rounds_requested": manifest.runs,
            "precision_target": manifest.precision,
            "precision_reached": max(precisions) if precisions else None,
        },
    }
    return Analysis.from_dict(jsonable(data), str(folder.path / "analysis.json"))


def jsonable(value: Any) -> Any:
    """Numpy scalars as Python ones, NaN and infinities as None, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return stats.number(value)
    return None if value is pd.NA else value


def summary_rows(analysis: Analysis) -> list[SummaryRow]:
    """tables/summary.csv: one row per contender, its like-for-like speed-up included."""
    ratios = {c.contender: c for c in analysis.comparisons}
    references = {c.reference for c in analysis.comparisons} | {analysis.reference}
    rows = []
    for s in analysis.contenders:
        c = ratios.get(s.name)
        is_ref = s.name in references and not c
        wall, split = s.wall, s.split
        rows.append(
            SummaryRow(
                contender=s.name,
                threads=s.threads,
                status=s.status,
                runs=s.runs,
                success_rate=s.success_rate,
                median_seconds=wall.median,
                median_ci_low=wall.ci_low,
                median_ci_high=wall.ci_high,
                mean_seconds=wall.mean,
                stddev_seconds=wall.stddev,
                min_seconds=wall.min,
                max_seconds=wall.max,
                reference=c.reference if c else None,
                speedup_vs_reference=1.0 if is_ref else (c.ratio if c else None),
                speedup_ci_low=c.ci_low if c else None,
                speedup_ci_high=c.ci_high if c else None,
                p_value=c.p_value if c else None,
                verdict="reference" if is_ref else (c.verdict if c else None),
                epochs_median=s.epochs_median,
                seconds_per_epoch_median=s.seconds_per_epoch.median,
                samples_per_second_median=s.samples_per_second_median,
                startup_load_seconds=s.startup_load,
                setup_seconds=split.setup if split else None,
                train_seconds=split.train if split else None,
                eval_seconds=split.eval if split else None,
                max_rss_mib=s.max_rss_mib,
                cpu_seconds=s.cpu_median,
                cores_used=s.cores_used_median,
                train_gflops=s.train_gflops,
                sgemm_fraction=s.sgemm_fraction,
            )
        )
    return rows


def analyze(where: Folder | Path) -> None:
    """Read the tables, run.json, outcome.json, parity.json; write analysis.json, summary.csv,
    and hand the Analysis to the folder for the stages after this one."""
    folder = Folder.of(where)
    analysis = build_analysis(folder)
    write_analysis(folder.path, analysis)
    write_rows(folder.path / "tables" / "summary.csv", SummaryRow, summary_rows(analysis))
    folder.keep(analysis)
