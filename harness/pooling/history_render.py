"""`harness history`'s output: the store's series, judged by history, as text and HTML.

Series are grouped per machine fingerprint and spec key and never mixed: a ratio's history is
one machine running one spec. Within a series, runs are ordered by their commit's time (when
git knew the commit at indexing), then by start time.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from harness.pooling.history import HistoryConfig, Point, SeriesResult, analyse
from harness.presentation import formats

TEMPLATES = Path(__file__).parents[1] / "presentation" / "templates"
METRIC_WORDS = {"run": "whole run, time to target", "epoch": "per training epoch"}
REASONS = {
    "confirmed": "confirmed",
    "interval_holds_zero": "rejected: the interval holds no change",
    "within_threshold": "rejected: within A/A noise",
    "outlier": "rejected: one run (an outlier until the next run)",
    "too_few": "rejected: too few pairs for an interval",
}


@dataclass
class Series:
    """One ratio on one machine and spec: its runs in order and their judgement."""

    machine: dict[str, Any]
    spec: dict[str, Any]
    contender: str
    reference: str
    runs: list[dict[str, Any]]  # rows of Store.series_rows, in order
    total: int  # runs in the store before --last
    result: SeriesResult

    @property
    def title(self) -> str:
        return f"{self.contender} vs {self.reference}"


def build(rows: list[dict[str, Any]], cfg: HistoryConfig) -> list[Series]:
    """Rows of Store.series_rows (in order within each series) -> judged series."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        key = (row["fingerprint"], row["spec_key"], row["contender"], row["reference"])
        groups.setdefault(key, []).append(row)
    out = []
    for shown in groups.values():
        points = [
            Point(r["ratio"], r["ci_low"], r["ci_high"], int(r["n"] or 0), r["alpha"] or 0.05)
            for r in shown
        ]
        first = shown[0]
        machine = {k: first[k] for k in ("fingerprint", "cpu_model", "logical_cores")}
        machine |= {k: first[k] for k in ("memory_bytes", "arch", "blas_kernel")}
        spec = {k: first[k] for k in ("spec_key", "dataset", "target")}
        series = Series(
            machine, spec, first["contender"], first["reference"], shown, int(first["total"]),
            analyse(points, cfg),
        )  # fmt: skip
        out.append(series)
    return out


def _run_label(row: dict[str, Any]) -> str:
    commit = (row["commit"] or "no commit")[:8] + ("+dirty" if row["dirty"] else "")
    return f"{Path(row['folder']).name} ({commit})"


def _machine_line(m: dict[str, Any]) -> str:
    memory = f", {m['memory_bytes'] / 2**30:.0f} GiB" if m["memory_bytes"] else ""
    kernel = f", BLAS kernel {m['blas_kernel']}" if m["blas_kernel"] else ""
    cores = f", {m['logical_cores']} cores" if m["logical_cores"] else ""
    return f"machine {m['fingerprint'][:8]} ({m['cpu_model']}{cores}{memory}{kernel})"


def _spec_line(s: dict[str, Any]) -> str:
    target = f", target {s['target']:.2f}" if s["target"] is not None else ""
    return f"spec {s['spec_key'][:8]} ({s['dataset'] or 'unknown dataset'}{target})"


def _ratio(r: float | None, low: float | None, high: float | None) -> str:
    if r is None:
        return "n/a"
    if low is None or high is None:
        return f"{formats.ratio(r)}"
    return f"{formats.ratio(r)} ({formats.ratio(low)}-{formats.ratio(high)})"


def step_lines(series: Series) -> list[str]:
    """One line per candidate change point."""
    lines = []
    for s in series.result.steps:
        interval = (
            f" ({100 * s.ci_low:+.1f} .. {100 * s.ci_high:+.1f} %)" if s.ci_low is not None else ""
        )
        lines.append(
            f"step at run {s.index + 1}, {_run_label(series.runs[s.index])}: "
            f"{formats.ratio(s.before)} -> {formats.ratio(s.after)}, {100 * s.change:+.1f} %"
            f"{interval}, {s.runs_before} | {s.runs_after} runs: {REASONS[s.reason]}"
        )
    return lines


def text(series: list[Series], where: str, metric: str, cfg: HistoryConfig) -> str:
    """The plain-text history."""
    runs = {r["run"] for s in series for r in s.runs}
    lines = [
        f"History of the like-for-like ratios ({METRIC_WORDS[metric]}) in {where}: "
        f"{len(series)} series over {len(runs)} runs shown",
    ]
    previous = None
    for s in series:
        head = (_machine_line(s.machine), _spec_line(s.spec))
        if head != previous:
            lines += ["", " · ".join(head)]
            previous = head
        newest = s.runs[-1]
        shown = f"{len(s.runs)} runs" + (f" (newest of {s.total})" if s.total > len(s.runs) else "")
        sigma = s.result.sigma
        noise = f"; run-to-run noise ±{100 * (math.exp(sigma) - 1):.1f} %" if sigma else ""
        ratio = _ratio(newest["ratio"], newest["ci_low"], newest["ci_high"])
        lines.append(f"  {s.title}: {shown}, newest {ratio} at {_run_label(newest)}{noise}")
        steps = step_lines(s)
        lines += [f"    {line}" for line in steps] or ["    no change point"]
        if s.result.newest_regression:
            lines.append("    REGRESSION: the newest run is a confirmed step for the worse")
    lines += [
        "",
        "Ratio = t(reference) / t(contender), measured side by side in each run (> 1: the "
        "contender is faster). Change points: ruptures (KernelCPD); each confirmed by a paired-"
        f"interval comparison of up to {cfg.window} runs either side, called only beyond "
        f"±{100 * cfg.threshold:g} % (A/A noise). Machines and specs are never compared.",
    ]
    return "\n".join(lines) + "\n"


def figure(series: Series) -> str:
    """The series as a PNG data URI: ratio and CI per run, confirmed levels, change points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    runs = series.runs
    x = list(range(1, len(runs) + 1))
    y = [r["ratio"] for r in runs]
    low = [r["ratio"] - (r["ci_low"] if r["ci_low"] is not None else r["ratio"]) for r in runs]
    high = [(r["ci_high"] if r["ci_high"] is not None else r["ratio"]) - r["ratio"] for r in runs]
    fig = Figure(figsize=(9, 3.2), dpi=96)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.errorbar(x, y, yerr=[low, high], fmt="o", ms=3, lw=0.8, color="#1f5fa8", ecolor="#9bb8dc")
    busy = [(i, r["ratio"]) for i, r in zip(x, runs, strict=True) if r["busy"]]
    if busy:
        ax.plot(
            *zip(*busy, strict=True),
            "o",
            ms=7,
            mfc="none",
            color="#c77700",
            label="busy machine (noise guard)",
        )
    for start, end, mean in series.result.segments:
        ax.hlines(mean, start + 0.6, end + 0.4, color="#333333", lw=1.5)
    for s in series.result.steps:
        style = {"color": "#c0392b", "ls": "-"} if s.confirmed else {"color": "#999999", "ls": ":"}
        ax.axvline(s.index + 0.5, lw=1.2, **style)
    ax.axhline(1.0, color="#bbbbbb", lw=0.8, ls="--")
    ax.set_xlabel("run, in order of commit and time")
    ax.set_ylabel("speed-up (x)")
    ax.set_title(series.title, fontsize=10)
    ax.set_xlim(0.4, len(runs) + 0.6)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if busy:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def html(series: list[Series], where: str, metric: str, cfg: HistoryConfig) -> str:
    """The self-contained HTML page: per machine and spec, each ratio's figure and steps."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True
    )
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for s in series:
        key = (_machine_line(s.machine), _spec_line(s.spec))
        group = groups.setdefault(key, {"machine": key[0], "spec": key[1], "series": []})
        newest = s.runs[-1]
        group["series"].append(
            {
                "title": s.title,
                "figure": figure(s),
                "runs": len(s.runs),
                "total": s.total,
                "newest": _ratio(newest["ratio"], newest["ci_low"], newest["ci_high"]),
                "newest_label": _run_label(newest),
                "steps": step_lines(s),
                "regression": s.result.newest_regression is not None,
            }
        )
    return env.get_template("history.html.j2").render(
        where=where,
        metric=METRIC_WORDS[metric],
        groups=list(groups.values()),
        window=cfg.window,
        threshold=100 * cfg.threshold,
    )
