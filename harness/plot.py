"""Figures of a results folder (matplotlib, Agg): plots/<name>.png and .svg, plots/figures.json.

figures.json lists the figures drawn, in report order, with their titles and captions: the
report reads it instead of importing this module (matplotlib takes most of a second to load).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from harness.analyze import read_runs, read_table, successful
from harness.errors import HarnessError
from harness.records import write_json


@dataclass(frozen=True)
class PlotConfig:
    """Figure settings."""

    width: float = 8.0  # inches
    height: float = 4.5  # inches
    dpi: int = 100  # PNG resolution: 800x450 pixels at the default size
    bins: int = 30  # histogram bins of the time distribution
    max_runs_drawn: int = 3  # accuracy curves drawn per contender (one per seed, run 0)


# Figure name -> (title, caption), in report order; plot() writes only those that apply.
FIGURES: dict[str, tuple[str, str]] = {
    "time_distribution": (
        "Time to target",
        "Wall time of every timed process (hyperfine): histogram overlay and box plot.",
    ),
    "breakdown": (
        "Where the time goes",
        "Median start-up + data load, training and evaluation seconds per contender.",
    ),
    "accuracy": (
        "Test accuracy",
        "Test accuracy after each epoch, against elapsed wall time and against epoch "
        "(one run per seed).",
    ),
    "seconds_per_epoch": (
        "Seconds per epoch",
        "Median training seconds per epoch with its bootstrap 95 % CI; unaffected by "
        "differences in epochs to target.",
    ),
    "target_sweep": (
        "Time to lower targets",
        "Median elapsed seconds until the test accuracy first passes each target "
        "(from the epoch log of the same runs).",
    ),
    "memory": ("Peak memory", "Median peak resident set size per process (hyperfine)."),
    "thread_scaling": (
        "Thread scaling",
        "Median wall time against the thread count, for contenders that differ only in threads.",
    ),
}

COLORS = plt.get_cmap("tab10").colors
# Matplotlib 3.10 renamed boxplot's `vert=False` to `orientation="horizontal"`.
_MPL = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
HORIZONTAL: dict[str, Any] = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}


def _color(i: int) -> Any:
    """The i-th colour of the palette, cycling."""
    return COLORS[i % len(COLORS)]


def time_distribution(runs: pd.DataFrame, order: list[str], cfg: PlotConfig) -> Figure:
    """Histogram overlay (like the original comparison) next to a box plot."""
    fig, (hist, box) = plt.subplots(
        1, 2, figsize=(cfg.width, cfg.height), gridspec_kw={"width_ratios": [3, 2]}
    )
    samples = [runs.loc[runs["contender"] == n, "wall_seconds"].dropna().to_numpy() for n in order]
    every = np.concatenate([s for s in samples if s.size]) if any(s.size for s in samples) else []
    bins = np.histogram_bin_edges(every, bins=cfg.bins) if len(every) else cfg.bins
    for i, (name, values) in enumerate(zip(order, samples, strict=True)):
        if values.size:
            # One filled outline per contender (not a patch per bin): same picture, a fraction
            # of the drawing time.
            hist.hist(
                values, bins=bins, histtype="stepfilled", alpha=0.5, color=_color(i), label=name
            )
    hist.set_xlabel("wall time per run (s)")
    hist.set_ylabel("runs")
    hist.yaxis.set_major_locator(MaxNLocator(integer=True))  # runs are counted, not measured
    hist.legend(fontsize="small")
    box.boxplot([s if s.size else [np.nan] for s in samples], **HORIZONTAL)
    box.invert_yaxis()
    box.set_yticks(range(1, len(order) + 1), order, fontsize="small")
    box.set_xlabel("wall time per run (s)")
    return fig


def breakdown(analysis: dict[str, Any], cfg: PlotConfig) -> Figure:
    """Stacked horizontal bars: start-up + load, train, eval (median seconds)."""
    rows = analysis["contenders"]
    names = [r["name"] for r in rows]
    parts = [
        ("start-up + load", "startup_load_median"),
        ("train", "train_median"),
        ("eval", "eval_median"),
    ]
    fig, ax = plt.subplots(figsize=(cfg.width, max(2.5, 0.6 * len(names) + 1.5)))
    left = np.zeros(len(names))
    for i, (label, key) in enumerate(parts):
        values = np.array([r.get(key) or 0.0 for r in rows])
        ax.barh(names, values, left=left, color=_color(i), label=label)
        left += values
    ax.invert_yaxis()
    ax.set_xlabel("median seconds per run")
    ax.legend(fontsize="small", loc="lower right")
    return fig


def accuracy(epochs: pd.DataFrame, order: list[str], target: Any, cfg: PlotConfig) -> Figure:
    """Test accuracy against elapsed seconds and against epoch."""
    fig, (by_time, by_epoch) = plt.subplots(1, 2, figsize=(cfg.width, cfg.height), sharey=True)
    for i, name in enumerate(order):
        log = epochs[(epochs["contender"] == name) & (epochs["run_index"] == 0)]
        for k, (_, run) in enumerate(log.groupby("seed", sort=True)):
            if k >= cfg.max_runs_drawn:
                break
            label = name if k == 0 else None
            by_time.plot(run["elapsed_seconds"], run["test_accuracy"], color=_color(i), label=label)
            by_epoch.plot(run["epoch"], run["test_accuracy"], color=_color(i), alpha=0.8)
    for ax in (by_time, by_epoch):
        if target is not None:
            ax.axhline(float(target), color="grey", linestyle="--", linewidth=1)
        ax.grid(alpha=0.3)
    by_time.set_xlabel("elapsed wall time (s)")
    by_epoch.set_xlabel("epoch")
    by_time.set_ylabel("test accuracy (fraction correct)")
    by_time.legend(fontsize="small", loc="lower right")
    return fig


def seconds_per_epoch(analysis: dict[str, Any], cfg: PlotConfig) -> Figure:
    """Bars of median seconds per epoch with CI error bars."""
    rows = [r for r in analysis["contenders"] if r["seconds_per_epoch"]["median"] is not None]
    names = [r["name"] for r in rows]
    med = np.array([r["seconds_per_epoch"]["median"] for r in rows])
    low = np.array([r["seconds_per_epoch"]["ci_low"] or m for r, m in zip(rows, med, strict=True)])
    high = np.array(
        [r["seconds_per_epoch"]["ci_high"] or m for r, m in zip(rows, med, strict=True)]
    )
    fig, ax = plt.subplots(figsize=(cfg.width, max(2.5, 0.6 * len(names) + 1.5)))
    ax.barh(
        names,
        med,
        xerr=[med - low, high - med],
        color=[_color(i) for i in range(len(names))],
        capsize=4,
    )
    ax.invert_yaxis()
    ax.set_xlabel("training seconds per epoch (median, 95 % CI)")
    return fig


def target_sweep(analysis: dict[str, Any], order: list[str], cfg: PlotConfig) -> Figure:
    """Median time to each lower target, one line per contender."""
    frame = pd.DataFrame(analysis["target_sweep"]["rows"])
    fig, ax = plt.subplots(figsize=(cfg.width, cfg.height))
    for i, name in enumerate(order):
        part = frame[frame["contender"] == name].dropna(subset=["median_seconds"])
        if len(part):
            ax.plot(part["target"], part["median_seconds"], marker="o", color=_color(i), label=name)
    ax.set_xlabel("target test accuracy (fraction correct)")
    ax.set_ylabel("median time to target (s)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def memory(analysis: dict[str, Any], cfg: PlotConfig) -> Figure:
    """Bars of the median peak RSS in MiB."""
    rows = [r for r in analysis["contenders"] if r.get("max_rss_median")]
    names = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(cfg.width, max(2.5, 0.6 * len(names) + 1.5)))
    ax.barh(
        names,
        [r["max_rss_median"] / 2**20 for r in rows],
        color=[_color(i) for i in range(len(names))],
    )
    ax.invert_yaxis()
    ax.set_xlabel("peak resident memory (MiB, median)")
    return fig


def thread_scaling(analysis: dict[str, Any], cfg: PlotConfig) -> Figure:
    """Median wall time against threads, one line per implementation+algorithm."""
    fig, ax = plt.subplots(figsize=(cfg.width, cfg.height))
    for i, group in enumerate(analysis["thread_scaling"]):
        points = [p for p in group["points"] if p["median"] is not None]
        ax.plot(
            [p["threads"] for p in points],
            [p["median"] for p in points],
            marker="o",
            color=_color(i),
            label=f"{group['implementation']} {group['algorithm']}".strip(),
        )
    ax.set_xlabel("threads")
    ax.set_ylabel("median wall time per run (s)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _save(fig: Figure, title: str, out: Path, name: str, cfg: PlotConfig) -> None:
    """Write one figure as PNG and SVG (SVG without a date, so reruns give the same file)."""
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=cfg.dpi)
    fig.savefig(out / f"{name}.svg", metadata={"Date": None})
    plt.close(fig)


def plot(results_dir: Path, cfg: PlotConfig | None = None) -> None:
    """Draw every figure that the folder's data supports into plots/."""
    cfg = cfg or PlotConfig()
    results_dir = Path(results_dir)
    analysis_path = results_dir / "analysis.json"
    if not analysis_path.is_file():
        raise HarnessError(f"{analysis_path}: not found; run the analyze stage first")
    analysis = json.loads(analysis_path.read_text(encoding="utf-8"))
    runs = read_runs(results_dir)
    runs["wall_seconds"] = pd.to_numeric(runs["wall_seconds"], errors="coerce")
    epochs = read_table(results_dir / "tables" / "epochs.csv")
    order = [c["name"] for c in analysis["contenders"]]
    out = results_dir / "plots"
    out.mkdir(exist_ok=True)
    for stale in out.iterdir():
        if stale.is_file():
            stale.unlink()

    ok = successful(runs)
    timed = runs[ok] if ok.any() else runs
    makers: dict[str, Callable[[], Figure]] = {
        "time_distribution": lambda: time_distribution(timed, order, cfg)
    }
    if analysis["has_metrics"]:
        makers["breakdown"] = lambda: breakdown(analysis, cfg)
        if epochs is not None and not epochs.empty:
            makers["accuracy"] = lambda: accuracy(epochs, order, analysis.get("target"), cfg)
        if any(c["seconds_per_epoch"]["median"] is not None for c in analysis["contenders"]):
            makers["seconds_per_epoch"] = lambda: seconds_per_epoch(analysis, cfg)
        if analysis["target_sweep"]["rows"]:
            makers["target_sweep"] = lambda: target_sweep(analysis, order, cfg)
    if any(c.get("max_rss_median") for c in analysis["contenders"]):
        makers["memory"] = lambda: memory(analysis, cfg)
    if analysis["thread_scaling"]:
        makers["thread_scaling"] = lambda: thread_scaling(analysis, cfg)
    _JOBS.clear()
    _JOBS.update({name: (make, out, cfg) for name, make in makers.items()})
    if "fork" in multiprocessing.get_all_start_methods() and sys.platform == "linux":
        # Drawing is most of this stage and every figure is independent: one forked worker per
        # core (they inherit the data and the imported matplotlib; nothing is pickled but names).
        workers = min(len(_JOBS), os.cpu_count() or 1)
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pool.map(_draw, list(_JOBS))
    else:
        for name in _JOBS:
            _draw(name)
    figures = [{"name": n, "title": FIGURES[n][0], "caption": FIGURES[n][1]} for n in FIGURES]
    write_json(out / "figures.json", {"figures": [f for f in figures if f["name"] in _JOBS]})


# name -> (figure maker, plots folder, settings) of the plot() call in progress.
_JOBS: dict[str, tuple[Callable[[], Figure], Path, PlotConfig]] = {}


def _draw(name: str) -> None:
    """Make and save one figure of the plot() call in progress."""
    make, out, cfg = _JOBS[name]
    with plt.rc_context({"svg.hashsalt": "mlp-bench", "font.size": 10}):
        _save(make(), FIGURES[name][0], out, name, cfg)
