"""Statistics over a results folder: writes analysis.json and tables/summary.csv."""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness.errors import HarnessError
from harness.records import read_optional_json
from harness.tables import RunRecord, columns

RUNS_COLUMNS = columns(RunRecord)


@dataclass(frozen=True)
class AnalysisConfig:
    """Knobs of the statistics (defaults follow common benchmarking practice)."""

    alpha: float = 0.05  # significance level for "faster"/"slower" claims
    confidence: float = 0.95  # bootstrap confidence level
    resamples: int = 2000  # bootstrap resamples (percentile method)
    random_seed: int = 0  # bootstrap generator seed: the report is reproducible
    unstable_cv: float = 0.10  # pyperf-style warning when stddev >= 10 % of the mean
    iqr_factor: float = 1.5  # Tukey fences for outliers: beyond 1.5 IQR from the quartiles
    min_runs: int = 10  # fewer timed runs than this triggers a "too few runs" warning
    sweep_steps: int = 5  # lower targets in the time-to-target sweep (plus the target itself)
    sweep_span: float = 0.10  # the sweep covers [target - span, target]
    rounding_margin: float = 0.005  # accuracy this close to the target counts as a rounding tie


# scipy >= 1.15 names the generator `rng`; older releases call it `random_state`.
_RNG_KW = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"

# ---------------------------------------------------------------- reading the folder


def read_table(path: Path, required: bool = False) -> pd.DataFrame | None:
    """Read one tables/*.csv with seed and contender kept as text."""
    if not path.is_file():
        if required:
            raise HarnessError(
                f"{path}: not found; `python -m harness report DIR` re-ingests the raw files"
            )
        return None
    try:
        frame = pd.read_csv(path, dtype={"contender": str, "seed": str, "run_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: not a readable CSV table ({exc})") from exc
    if "seed" in frame:
        frame["seed"] = frame["seed"].fillna("").astype(str)
    if "contender" not in frame:
        raise HarnessError(f"{path}: missing column 'contender'")
    frame["contender"] = frame["contender"].astype(str)
    return frame


def read_runs(results_dir: Path) -> pd.DataFrame:
    """tables/runs.csv, which must exist and have a wall_seconds column."""
    path = results_dir / "tables" / "runs.csv"
    runs = read_table(path, required=True)
    assert runs is not None
    if "wall_seconds" not in runs:
        raise HarnessError(f"{path}: missing column 'wall_seconds'")
    return runs


def _status(status: pd.Series) -> pd.Series:
    """A status column with missing values read as no_metrics (hyperfine-only input)."""
    return status.astype(object).where(status.notna(), "no_metrics")


def successful(runs: pd.DataFrame) -> pd.Series:
    """Runs that count as reaching the target (hyperfine-only input: exit code 0 or unknown)."""
    missing = pd.Series(np.nan, index=runs.index)
    status = _status(runs.get("status", missing))
    exit_code = pd.to_numeric(runs.get("exit_code", missing), errors="coerce")
    clean_exit = exit_code.isna() | (exit_code == 0)
    return (status == "reached_target") | ((status == "no_metrics") & clean_exit)


# ---------------------------------------------------------------- statistics


def _finite(values: Any) -> np.ndarray:
    """The finite values of a column as a float array."""
    arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    return arr[np.isfinite(arr)]


def _median(values: Any) -> float | None:
    """Median of the finite values, None when there are none."""
    arr = _finite(values)
    return float(np.median(arr)) if arr.size else None


def median_ci(values: np.ndarray, cfg: AnalysisConfig) -> tuple[float | None, float | None]:
    """Bootstrap (percentile) confidence interval of the median."""
    if values.size < 2:
        return (None, None)
    if np.all(values == values[0]):
        return (float(values[0]), float(values[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            (values,),
            np.median,
            confidence_level=cfg.confidence,
            n_resamples=cfg.resamples,
            method="percentile",
            vectorized=True,
            **{_RNG_KW: np.random.default_rng(cfg.random_seed)},
        )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def describe(values: np.ndarray, cfg: AnalysisConfig) -> dict[str, float | None]:
    """Median (with CI), mean, stddev (ddof 1), min, max of a sample."""
    if values.size == 0:
        return dict.fromkeys(("median", "ci_low", "ci_high", "mean", "stddev", "min", "max"))
    low, high = median_ci(values, cfg)
    return {
        "median": float(np.median(values)),
        "ci_low": low,
        "ci_high": high,
        "mean": float(np.mean(values)),
        "stddev": float(np.std(values, ddof=1)) if values.size > 1 else None,
        "min": float(np.min(values)),
        "max": float(np.max(values)),
    }


def instability(values: np.ndarray, cfg: AnalysisConfig) -> list[str]:
    """pyperf-style warnings: spread, outliers beyond the Tukey fences, too few runs."""
    notes = []
    if values.size < cfg.min_runs:
        notes.append(
            f"only {values.size} timed runs (fewer than {cfg.min_runs}): estimates are rough"
        )
    if values.size >= 2:
        mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
        if mean > 0 and std >= cfg.unstable_cv * mean:
            notes.append(
                f"unstable: stddev is {100 * std / mean:.0f} % of the mean "
                f"(>= {100 * cfg.unstable_cv:.0f} %)"
            )
        q1, q3 = np.percentile(values, [25, 75])
        fence = cfg.iqr_factor * (q3 - q1)
        outliers = int(np.sum((values < q1 - fence) | (values > q3 + fence)))
        if outliers:
            notes.append(f"{outliers} outlier(s) beyond {cfg.iqr_factor} IQR of the quartiles")
    return notes


def _median_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Speed-up of b over a: median(a) / median(b) (> 1 means b is faster)."""
    return np.median(a, axis=axis) / np.median(b, axis=axis)


def ratio_test(
    reference: np.ndarray, other: np.ndarray, paired: bool, cfg: AnalysisConfig
) -> dict[str, Any]:
    """Ratio of medians reference/other with a bootstrap CI and a rank test.

    Paired samples (same seed and run index) use the Wilcoxon signed-rank test on the
    differences reference - other; independent ones the Mann-Whitney U test. Both two-sided.
    """
    out: dict[str, Any] = {"ratio": None, "ci_low": None, "ci_high": None, "p_value": None}
    out["test"] = "wilcoxon" if paired else "mannwhitneyu"
    out["paired"] = paired
    out["n"] = int(min(reference.size, other.size))
    if reference.size == 0 or other.size == 0 or np.median(other) <= 0:
        return out
    out["ratio"] = float(_median_ratio(reference, other))
    if reference.size < 2 or other.size < 2:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            (reference, other),
            _median_ratio,
            paired=paired,
            confidence_level=cfg.confidence,
            n_resamples=cfg.resamples,
            method="percentile",
            vectorized=True,
            **{_RNG_KW: np.random.default_rng(cfg.random_seed)},
        )
        out["ci_low"] = _num(res.confidence_interval.low)
        out["ci_high"] = _num(res.confidence_interval.high)
        if paired:
            diff = reference - other
            p = 1.0 if np.all(diff == 0) else stats.wilcoxon(diff).pvalue
        else:
            p = stats.mannwhitneyu(reference, other, alternative="two-sided").pvalue
    out["p_value"] = _num(p)
    return out


def _num(value: Any) -> float | None:
    """A float, or None for NaN/inf/None (JSON has no NaN)."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def format_p(p: float | None) -> str:
    """`p < 0.001` or `p = 0.023`."""
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict(test: dict[str, Any], cfg: AnalysisConfig) -> str:
    """faster / slower only when the rank test is significant at alpha; else no_difference."""
    p, ratio = test.get("p_value"), test.get("ratio")
    if p is None or ratio is None or p >= cfg.alpha or ratio == 1:
        return "no_difference"
    return "faster" if ratio > 1 else "slower"


def sentence(name: str, reference: str, test: dict[str, Any], cfg: AnalysisConfig) -> str:
    """The headline sentence for one contender against the reference."""
    ratio, low, high = test.get("ratio"), test.get("ci_low"), test.get("ci_high")
    if ratio is None:
        return f"{name} vs {reference}: no comparable runs"
    ci = f"{100 * cfg.confidence:.0f} % CI {low:.2f}-{high:.2f}, " if low is not None else ""
    kind = verdict(test, cfg)
    if kind == "faster":
        return f"{name} is {ratio:.2f}x faster than {reference} ({ci}{format_p(test['p_value'])})"
    if kind == "slower":
        inv = f"{1 / ratio:.2f}"
        ci_inv = (
            f"{100 * cfg.confidence:.0f} % CI {1 / high:.2f}-{1 / low:.2f}, "
            if low is not None and low > 0
            else ""
        )
        return f"{name} is {inv}x slower than {reference} ({ci_inv}{format_p(test['p_value'])})"
    return (
        f"no significant difference between {name} and {reference} "
        f"(ratio {ratio:.2f}, {ci}{format_p(test['p_value'])}, alpha {cfg.alpha})"
    )


# ---------------------------------------------------------------- pieces of the analysis


def _paired_samples(
    ref: pd.DataFrame, other: pd.DataFrame, column: str
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Join on (seed, run_index) when both sides have seeds; else two independent samples."""
    has_seeds = (ref["seed"] != "").any() and (other["seed"] != "").any()
    if has_seeds and "run_index" in ref and "run_index" in other:
        joined = ref.merge(other, on=["seed", "run_index"], suffixes=("_a", "_b"))
        joined = joined[np.isfinite(joined[f"{column}_a"]) & np.isfinite(joined[f"{column}_b"])]
        if len(joined) >= 2:
            return (
                joined[f"{column}_a"].to_numpy(float),
                joined[f"{column}_b"].to_numpy(float),
                True,
            )
    return _finite(ref[column]), _finite(other[column]), False


def per_seed_ratios(ref: pd.DataFrame, other: pd.DataFrame) -> list[dict[str, Any]]:
    """Per seed: median wall time of the reference over the contender's."""
    rows = []
    for seed in sorted(set(ref["seed"]) & set(other["seed"]) - {""}, key=_seed_key):
        a = _median(ref.loc[ref["seed"] == seed, "wall_seconds"])
        b = _median(other.loc[other["seed"] == seed, "wall_seconds"])
        rows.append({"seed": seed, "ratio": a / b if a and b else None})
    return rows


def _seed_key(seed: str) -> tuple[int, Any]:
    """Sort seeds numerically when they are numbers."""
    try:
        return (0, int(float(seed)))
    except ValueError:
        return (1, seed)


def target_sweep(
    epochs: pd.DataFrame | None, runs: pd.DataFrame, target: float | None, cfg: AnalysisConfig
) -> dict[str, Any]:
    """Time to each lower target, from the epoch log: the first epoch whose accuracy passes it."""
    if epochs is None or epochs.empty or target is None:
        return {"targets": [], "rows": []}
    top = float(target)
    targets = [
        round(float(t), 4)
        for t in np.linspace(top - cfg.sweep_span, top, cfg.sweep_steps + 1)
        if t > 0
    ]
    rows = []
    keys = ["contender", "seed", "run_index"]
    for contender, log in epochs.groupby("contender", sort=False):
        n_runs = int((runs["contender"] == contender).sum()) or log.groupby(keys[1:]).ngroups
        for t in targets:
            passed = log[log["test_accuracy"] > t].sort_values("epoch")
            first = passed.groupby(keys[1:], sort=False).head(1)
            rows.append(
                {
                    "contender": contender,
                    "target": t,
                    "median_seconds": _median(first["elapsed_seconds"]),
                    "median_epochs": _median(first["epoch"]),
                    "reached_fraction": len(first) / n_runs if n_runs else None,
                }
            )
    return {"targets": targets, "rows": rows}


def seed_epochs(
    runs: pd.DataFrame,
    epochs: pd.DataFrame | None,
    order: list[str],
    target: float | None,
    cfg: AnalysisConfig,
) -> list[dict[str, Any]]:
    """Per seed, each contender's epochs to target; mismatches flagged with a likely cause."""
    if "epochs" not in runs or runs["epochs"].isna().all():
        return []
    rows = []
    for seed in sorted(set(runs["seed"]) - {""}, key=_seed_key):
        sub = runs[(runs["seed"] == seed) & (runs["status"] == "reached_target")]
        counts = {}
        for name in order:
            values = sorted({int(e) for e in _finite(sub.loc[sub["contender"] == name, "epochs"])})
            if values:
                counts[name] = values
        distinct = sorted({e for v in counts.values() for e in v})
        row: dict[str, Any] = {"seed": seed, "epochs": counts, "mismatch": len(distinct) > 1}
        if row["mismatch"]:
            row["explanation"] = _explain_mismatch(seed, counts, epochs, target, cfg)
        rows.append(row)
    return rows


def _explain_mismatch(
    seed: str,
    counts: dict[str, list[int]],
    epochs: pd.DataFrame | None,
    target: float | None,
    cfg: AnalysisConfig,
) -> str:
    """Say whether an epoch-count difference is float rounding at the threshold."""
    low = min(e for v in counts.values() for e in v)
    high = max(e for v in counts.values() for e in v)
    text = f"{low} vs {high} epochs"
    if epochs is None or target is None:
        return f"{text}: cause unknown (no epoch log)"
    slow = [name for name, v in counts.items() if high in v]
    at_low = epochs[
        (epochs["seed"] == seed) & (epochs["contender"].isin(slow)) & (epochs["epoch"] == low)
    ]
    acc = _finite(at_low["test_accuracy"])
    if high - low == 1 and acc.size and np.all(np.abs(acc - float(target)) <= cfg.rounding_margin):
        return (
            f"{text}: float rounding at the threshold "
            f"(accuracy {acc.max():.4f} at epoch {low}, target {float(target):g})"
        )
    return f"{text}: trajectories differ by more than rounding at the threshold"


def spec_hashes(results_dir: Path, run: dict[str, Any]) -> dict[str, Any]:
    """The spec's sha256 from spec.json, run.json and every metrics start event."""
    seen: dict[str, set[str]] = {}
    for path in sorted((results_dir / "metrics").glob("**/*.jsonl")):
        name = path.parent.name if path.parent.name != "metrics" else path.stem
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"start"' not in line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "start" and event.get("spec_sha256"):
                seen.setdefault(name, set()).add(str(event["spec_sha256"]))
    spec = results_dir / "spec.json"
    file_hash = hashlib.sha256(spec.read_bytes()).hexdigest() if spec.is_file() else None
    declared = run.get("spec_sha256") or file_hash
    all_hashes = {h for v in seen.values() for h in v} | ({declared} if declared else set())
    return {
        "spec_file": file_hash,
        "declared": declared,
        "by_contender": {k: sorted(v) for k, v in seen.items()},
        "consistent": len(all_hashes) <= 1,
    }


def evaluator_rows(evaluator: pd.DataFrame | None, tolerance: float = 1e-9) -> list[dict]:
    """The shared evaluator's table with an `agrees` flag per row."""
    if evaluator is None or evaluator.empty:
        return []
    frame = evaluator.copy()
    if "agrees" not in frame:
        claimed = next((c for c in frame if "claim" in c or "reported" in c), None)
        ours = next((c for c in frame if "harness" in c or "evaluat" in c), None)
        if claimed and ours:
            diff = (pd.to_numeric(frame[claimed]) - pd.to_numeric(frame[ours])).abs()
            frame["agrees"] = diff <= tolerance
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for row in records:
        if isinstance(row.get("agrees"), str):
            row["agrees"] = row["agrees"].strip().lower() == "true"
    return records


# ---------------------------------------------------------------- the whole analysis


def _contender_order(
    runs: pd.DataFrame, contenders: pd.DataFrame | None, run: dict[str, Any]
) -> list[str]:
    """Contenders in configuration order, then any others seen in runs.csv."""
    order: list[str] = [str(c["name"]) for c in run.get("contenders") or [] if "name" in c]
    if contenders is not None:
        order += [c for c in contenders["contender"] if c not in order]
    order += [c for c in runs["contender"].drop_duplicates() if c not in order]
    return order


def _contender_info(
    name: str, contenders: pd.DataFrame | None, run: dict[str, Any]
) -> dict[str, Any]:
    """implementation/algorithm/threads/command of one contender, from run.json or the CSV."""
    info: dict[str, Any] = {"implementation": None, "algorithm": None, "threads": None}
    for c in run.get("contenders") or []:
        if c.get("name") == name:
            info.update({k: c.get(k) for k in ("implementation", "algorithm", "threads")})
            info["argv"] = c.get("argv")
    if contenders is not None:
        row = contenders[contenders["contender"] == name]
        if len(row):
            rec = row.iloc[0].to_dict()
            for key in ("implementation", "algorithm", "threads", "command"):
                if info.get(key) is None and key in rec and pd.notna(rec[key]):
                    info[key] = rec[key]
    if info.get("threads") is not None:
        info["threads"] = int(info["threads"])
    return info


def summarize_contender(
    name: str, frame: pd.DataFrame, run: dict[str, Any], cfg: AnalysisConfig
) -> dict[str, Any]:
    """Statistics of one contender's timed runs (wall time of successful runs)."""
    ok = frame[successful(frame)]
    timed = ok if len(ok) else frame
    wall = _finite(timed["wall_seconds"])
    outcome = (run.get("outcomes") or {}).get(name, {})
    status = outcome.get("status") or ("ok" if len(ok) else "failed")
    notes = instability(wall, cfg)
    if not len(ok) and len(frame):
        notes.insert(0, "no run reached the target: times shown are of failed runs")
    exits = sorted({int(e) for e in _finite(frame.get("exit_code", []))})
    startup_load = pd.to_numeric(frame.get("startup_seconds"), errors="coerce") + pd.to_numeric(
        frame.get("load_seconds"), errors="coerce"
    )
    spe = _finite(ok.get("seconds_per_epoch", []))
    return {
        "name": name,
        "status": status,
        "runs": len(frame),
        "successes": len(ok),
        "success_rate": len(ok) / len(frame) if len(frame) else None,
        "wall": describe(wall, cfg),
        "user_median": _median(timed.get("user_seconds", [])),
        "system_median": _median(timed.get("system_seconds", [])),
        "max_rss_median": _median(timed.get("max_rss_bytes", [])),
        "startup_load_median": _median(startup_load[timed.index]),
        "train_median": _median(timed.get("train_seconds", [])),
        "eval_median": _median(timed.get("eval_seconds", [])),
        "epochs_median": _median(ok.get("epochs", [])),
        "seconds_per_epoch": describe(spe, cfg),
        "samples_per_second_median": _median(ok.get("samples_per_second", [])),
        "exit_codes": exits,
        "stderr_tail": outcome.get("stderr_tail") or "",
        "note": outcome.get("note") or "",
        "warnings": notes,
    }


def build_analysis(results_dir: Path, cfg: AnalysisConfig | None = None) -> dict[str, Any]:
    """Everything the plots and the report show, as one JSON-ready dict."""
    cfg = cfg or AnalysisConfig()
    tables = results_dir / "tables"
    runs = read_runs(results_dir)
    for column in RUNS_COLUMNS:  # tolerate tables with optional columns left out
        if column not in runs:
            runs[column] = "" if column == "seed" else np.nan
    for column in ("run_index", "wall_seconds", "epochs", "seconds_per_epoch"):
        runs[column] = pd.to_numeric(runs[column], errors="coerce")
    runs["status"] = _status(runs["status"])
    epochs = read_table(tables / "epochs.csv")
    contenders = read_table(tables / "contenders.csv")
    evaluator = read_table(tables / "evaluator.csv")
    run = read_optional_json(results_dir / "run.json") or {}
    parity = read_optional_json(results_dir / "parity.json")

    order = _contender_order(runs, contenders, run)
    reference = run.get("reference") or (order[0] if order else None)
    if reference not in order and order:
        reference = order[0]
    has_metrics = bool((runs["status"] != "no_metrics").any())
    groups = {name: runs[runs["contender"] == name] for name in order}

    summaries = []
    for name in order:
        summary = summarize_contender(name, groups[name], run, cfg)
        summary.update(_contender_info(name, contenders, run))
        summaries.append(summary)

    threads = {s["name"]: s.get("threads") for s in summaries}

    def labelled(name: str) -> str:
        """The name with its thread count, so a claim never hides unequal resources."""
        t = threads.get(name)
        return name if pd.isna(t) else f"{name} ({int(t)} thread{'s' if int(t) > 1 else ''})"

    comparisons = []
    ref_ok = groups[reference][successful(groups[reference])] if reference else None
    for name in order:
        if name == reference or ref_ok is None:
            continue
        other = groups[name][successful(groups[name])]
        a, b, paired = _paired_samples(ref_ok, other, "wall_seconds")
        test = ratio_test(a, b, paired, cfg)
        test.update({"contender": name, "reference": reference, "verdict": verdict(test, cfg)})
        test["sentence"] = sentence(labelled(name), labelled(reference), test, cfg)
        test["per_seed"] = per_seed_ratios(ref_ok, other)
        if has_metrics and "seconds_per_epoch" in runs:
            a, b, paired = _paired_samples(ref_ok, other, "seconds_per_epoch")
            test["per_epoch"] = ratio_test(a, b, paired, cfg)
        comparisons.append(test)

    target = run.get("target")
    return {
        "schema_version": 1,
        "config": asdict(cfg),
        "reference": reference,
        "target": target,
        "dataset": run.get("dataset"),
        "has_metrics": has_metrics,
        "contenders": summaries,
        "comparisons": comparisons,
        "headline": headline(comparisons, reference, cfg),
        "target_sweep": target_sweep(epochs, runs, target, cfg),
        "fairness": {
            "spec_sha256": spec_hashes(results_dir, run),
            "parity": parity,
            "parity_status": (parity or {}).get("status")
            or (run.get("parity") or {}).get("status")
            or "skipped",
            "seeds": seed_epochs(runs, epochs, order, target, cfg),
            "evaluator": evaluator_rows(evaluator),
        },
        "thread_scaling": thread_scaling(summaries),
        "interrupted": bool(run.get("interrupted")),
    }


def headline(comparisons: list[dict[str, Any]], reference: str | None, cfg: AnalysisConfig) -> str:
    """The report's first sentence: the fastest contender vs the reference, plus per epoch."""
    usable = [c for c in comparisons if c.get("ratio") is not None]
    if not usable:
        return f"only {reference} has usable runs: nothing to compare" if reference else "no runs"
    best = max(usable, key=lambda c: c["ratio"])
    text = best["sentence"]
    per_epoch = best.get("per_epoch") or {}
    if per_epoch.get("ratio") is not None:
        ci = ""
        if per_epoch.get("ci_low") is not None:
            low, high = per_epoch["ci_low"], per_epoch["ci_high"]
            ci = f" ({100 * cfg.confidence:.0f} % CI {low:.2f}-{high:.2f})"
        text += f"; seconds per epoch: {per_epoch['ratio']:.2f}x{ci}"
    return text


def thread_scaling(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Contenders sharing implementation+algorithm with several thread counts."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in summaries:
        if s.get("implementation") and s.get("threads") is not None:
            groups.setdefault((s["implementation"], s.get("algorithm") or ""), []).append(s)
    out = []
    for (impl, algo), members in groups.items():
        if len({m["threads"] for m in members}) > 1:
            points = sorted(
                ({"threads": m["threads"], "median": m["wall"]["median"]} for m in members),
                key=lambda p: p["threads"],
            )
            out.append({"implementation": impl, "algorithm": algo, "points": points})
    return out


def summary_frame(analysis: dict[str, Any]) -> pd.DataFrame:
    """The summary table exactly as shown in the report (tables/summary.csv)."""
    ratios = {c["contender"]: c for c in analysis["comparisons"]}
    rows = []
    for s in analysis["contenders"]:
        c = ratios.get(s["name"], {})
        wall, spe = s["wall"], s["seconds_per_epoch"]
        rows.append(
            {
                "contender": s["name"],
                "status": s["status"],
                "runs": s["runs"],
                "success_rate": s["success_rate"],
                "median_seconds": wall["median"],
                "median_ci_low": wall["ci_low"],
                "median_ci_high": wall["ci_high"],
                "mean_seconds": wall["mean"],
                "stddev_seconds": wall["stddev"],
                "min_seconds": wall["min"],
                "max_seconds": wall["max"],
                "speedup_vs_reference": 1.0
                if s["name"] == analysis["reference"]
                else c.get("ratio"),
                "speedup_ci_low": c.get("ci_low"),
                "speedup_ci_high": c.get("ci_high"),
                "p_value": c.get("p_value"),
                "verdict": c.get(
                    "verdict", "reference" if s["name"] == analysis["reference"] else None
                ),
                "epochs_median": s["epochs_median"],
                "seconds_per_epoch_median": spe["median"],
                "samples_per_second_median": s["samples_per_second_median"],
                "startup_load_seconds": s["startup_load_median"],
                "train_seconds": s["train_median"],
                "eval_seconds": s["eval_median"],
                "max_rss_mib": s["max_rss_median"] / 2**20 if s["max_rss_median"] else None,
            }
        )
    return pd.DataFrame(rows)


def analyze(results_dir: Path) -> None:
    """Read tables/*.csv, run.json, parity.json, env.json; write analysis.json, summary.csv."""
    results_dir = Path(results_dir)
    analysis = build_analysis(results_dir)
    env = read_optional_json(results_dir / "env.json")
    analysis["environment_present"] = env is not None
    (results_dir / "analysis.json").write_text(
        json.dumps(_jsonable(analysis), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    (results_dir / "tables").mkdir(exist_ok=True)
    summary_frame(analysis).to_csv(results_dir / "tables" / "summary.csv", index=False)


def _jsonable(value: Any) -> Any:
    """Recursively turn NaN into null and numpy scalars into Python ones."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _num(value)
    return value
