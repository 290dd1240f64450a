"""Two results folders side by side: per contender, the change in median wall time (B vs A)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.analyze import AnalysisConfig, _finite, format_p, ratio_test, read_runs, successful
from harness.errors import HarnessError


@dataclass(frozen=True)
class CompareConfig:
    """When a change counts as a regression or an improvement."""

    alpha: float = 0.05  # Mann-Whitney U (two-sided) significance level
    min_effect: float = 0.02  # ignore significant changes smaller than 2 % of the median


def _wall_times(results_dir: Path) -> dict[str, np.ndarray]:
    """Successful runs' wall seconds per contender, from tables/runs.csv."""
    if not Path(results_dir).is_dir():
        raise HarnessError(f"{results_dir}: not a results folder")
    runs = read_runs(Path(results_dir))
    ok = runs[successful(runs)]
    names = list(dict.fromkeys(runs["contender"]))
    return {name: _finite(ok.loc[ok["contender"] == name, "wall_seconds"]) for name in names}


def compare_contender(
    a: np.ndarray, b: np.ndarray, cfg: CompareConfig, stats_cfg: AnalysisConfig
) -> dict[str, Any]:
    """Change of B's median over A's, with a bootstrap CI and a Mann-Whitney p-value."""
    # ratio_test gives median(A) / median(B); B's relative change is its inverse minus one.
    test = ratio_test(a, b, paired=False, cfg=stats_cfg)
    row: dict[str, Any] = {
        "median_a": float(np.median(a)) if a.size else None,
        "median_b": float(np.median(b)) if b.size else None,
        "change": None,
        "ci": None,
        "p_value": test["p_value"],
        "verdict": "no runs",
    }
    if test["ratio"] is None:
        return row
    row["change"] = 1 / test["ratio"] - 1
    if test["ci_low"] and test["ci_high"]:
        row["ci"] = (1 / test["ci_high"] - 1, 1 / test["ci_low"] - 1)
    p = test["p_value"]
    if p is None or p >= cfg.alpha or abs(row["change"]) < cfg.min_effect:
        row["verdict"] = "no significant change"
    else:
        row["verdict"] = "REGRESSION" if row["change"] > 0 else "improvement"
    return row


def _fmt(value: float | None, pattern: str) -> str:
    """Format or n/a."""
    return "n/a" if value is None else pattern.format(value)


def compare(dir_a: Path, dir_b: Path, cfg: CompareConfig | None = None) -> tuple[str, int]:
    """Text table of B vs A per contender; exit status 1 when any significant regression."""
    cfg = cfg or CompareConfig()
    stats_cfg = AnalysisConfig(alpha=cfg.alpha)
    times_a, times_b = _wall_times(Path(dir_a)), _wall_times(Path(dir_b))
    header = ("contender", "A median s", "B median s", "change", "95 % CI", "p", "verdict")
    rows = []
    regressions = 0
    for name in list(times_a) + [n for n in times_b if n not in times_a]:
        if name not in times_a or name not in times_b:
            where = "A" if name in times_a else "B"
            rows.append((name, "", "", "", "", "", f"only in {where}"))
            continue
        r = compare_contender(times_a[name], times_b[name], cfg, stats_cfg)
        regressions += r["verdict"] == "REGRESSION"
        ci = "n/a" if r["ci"] is None else f"{r['ci'][0]:+.1%} .. {r['ci'][1]:+.1%}"
        rows.append(
            (
                name,
                _fmt(r["median_a"], "{:.4g}"),
                _fmt(r["median_b"], "{:.4g}"),
                _fmt(r["change"], "{:+.1%}"),
                ci,
                format_p(r["p_value"]) if r["p_value"] is not None else "n/a",
                r["verdict"],
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(
        f"A = {dir_a}, B = {dir_b}; change = median(B) / median(A) - 1; "
        f"Mann-Whitney U, alpha {cfg.alpha}, changes under {cfg.min_effect:.0%} ignored."
    )
    if regressions:
        lines.append(f"{regressions} significant regression(s).")
    return "\n".join(lines) + "\n", 1 if regressions else 0
