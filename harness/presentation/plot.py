"""Figures of a results folder (matplotlib, Agg): plots/<name>.png and .svg, plots/figures.json.

figures.json lists the figures drawn, in report order: the report reads it (and takes titles
and captions from wording) instead of importing this module, because matplotlib takes
most of a second to load. Every number drawn comes from analysis.json, except the accuracy
curves (tables/epochs.csv). A figure without data to show is left out, never drawn empty.
"""

from __future__ import annotations

import multiprocessing
import os
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
from matplotlib.ticker import NullLocator, PercentFormatter

from harness.model.analysis import Analysis
from harness.model.folder import Folder
from harness.model.records import no_links, write_json
from harness.model.tables import EpochRecord, read_table
from harness.presentation.wording import FIGURES, PART_WORDS


@dataclass(frozen=True)
class PlotConfig:
    """Figure settings."""

    width: float = 8.0  # inches
    height: float = 4.5  # inches
    dpi: int = 100  # PNG resolution: 800x450 pixels at the default size
    max_runs_drawn: int = 3  # accuracy curves drawn per contender (one per seed, run 0)


COLORS = plt.get_cmap("tab10").colors
FRACTION_CAP = 1.25  # the sgemm-fraction axis ends here; a bar beyond is labelled with its value
# Matplotlib 3.10 renamed boxplot's `vert=False` to `orientation="horizontal"`.
_MPL = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
HORIZONTAL: dict[str, Any] = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}


def _color(i: int) -> Any:
    """The i-th colour of the palette, cycling."""
    return COLORS[i % len(COLORS)]


def time_distribution(analysis: Analysis, cfg: PlotConfig) -> Figure:
    """Per contender: every run as a dot (jittered), its box, and the median's 95 % CI."""
    rows = [r for r in analysis.contenders if r.wall_samples]
    fig, ax = plt.subplots(figsize=(cfg.width, max(2.4, 0.55 * len(rows) + 1.4)))
    jitter = np.random.default_rng(0)  # fixed: the same folder draws the same picture
    samples = [np.asarray(r.wall_samples, dtype=float) for r in rows]
    ax.boxplot(samples, widths=0.5, showfliers=False, medianprops={"color": "black"}, **HORIZONTAL)
    for i, (row, values) in enumerate(zip(rows, samples, strict=True), start=1):
        y = i + jitter.uniform(-0.18, 0.18, len(values))
        ax.scatter(values, y, s=14, color=_color(i - 1), alpha=0.8, zorder=3)
        wall = row.wall
        if wall.ci_low is not None:
            ax.plot([wall.ci_low, wall.ci_high], [i + 0.32] * 2, color="black", lw=2.5)
    ax.set_yticks(range(1, len(rows) + 1), [r.name for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("wall time per run (s); bar under a box: 95 % CI of the median")
    ax.grid(axis="x", alpha=0.3)
    return fig


def breakdown(analysis: Analysis, cfg: PlotConfig) -> Figure:
    """Stacked horizontal bars: the median run's parts, which add up to its wall time."""
    rows = [r for r in analysis.contenders if r.split]
    names = [r.name for r in rows]
    fig, ax = plt.subplots(figsize=(cfg.width, max(2.5, 0.6 * len(names) + 1.8)))
    left = np.zeros(len(names))
    for i, (part, words) in enumerate(PART_WORDS.items()):
        values = np.array([getattr(r.split, part) for r in rows])
        ax.barh(names, values, left=left, color=_color(i), label=words)
        left += values
    ax.invert_yaxis()
    ax.set_xlabel("seconds of the median run (the parts add up to its wall time)")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3)
    return fig


def why(analysis: Analysis, cfg: PlotConfig) -> Figure:
    """Training GFLOP/s against the machine's sgemm rate, and the fraction of it."""
    rows = [r for r in analysis.contenders if r.train_gflops is not None]
    names = [r.name for r in rows]
    rates = analysis.floor.sgemm_gflops or {}
    fig, (speed, share) = plt.subplots(
        1, 2, figsize=(cfg.width, max(2.5, 0.6 * len(names) + 1.5)), sharey=True
    )
    colors = [_color(i) for i in range(len(names))]
    speed.barh(names, [r.train_gflops for r in rows], color=colors)
    marks = [(i, rates.get(str(r.threads))) for i, r in enumerate(rows)]
    marks = [(i, float(rate)) for i, rate in marks if rate]
    if marks:
        speed.scatter(
            [m[1] for m in marks], [m[0] for m in marks], marker="|", s=400, color="black",
            label="sgemm rate at its threads",
        )  # fmt: skip
        speed.legend(fontsize="x-small", loc="lower right", framealpha=0.9)
    speed.invert_yaxis()
    speed.set_xlabel("training GFLOP/s")
    fractions = [r.sgemm_fraction for r in rows]
    if any(f is not None for f in fractions):
        capped = [min(f or 0.0, FRACTION_CAP) for f in fractions]
        share.barh(names, capped, color=colors)
        share.axvline(1.0, color="grey", linestyle="--", linewidth=1)
        for i, f in enumerate(fractions):
            if f is not None and f > FRACTION_CAP:  # an outlier: its true value as a label
                share.annotate(
                    f"{100 * f:.0f} % ▶", (FRACTION_CAP, i), xytext=(-4, 0),
                    textcoords="offset points", ha="right", va="center", color="white",
                    fontweight="bold", fontsize="small",
                )  # fmt: skip
        share.set_xlim(0, FRACTION_CAP)
    share.xaxis.set_major_formatter(PercentFormatter(1.0))
    share.set_xlabel(f"fraction of the sgemm rate (axis capped at {100 * FRACTION_CAP:.0f} %)")
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


def seconds_per_epoch(analysis: Analysis, cfg: PlotConfig) -> Figure:
    """Bars of median seconds per epoch with CI error bars."""
    rows = [r for r in analysis.contenders if r.seconds_per_epoch.median is not None]
    names = [r.name for r in rows]
    med = np.array([r.seconds_per_epoch.median for r in rows])
    low = np.array([r.seconds_per_epoch.ci_low or m for r, m in zip(rows, med, strict=True)])
    high = np.array([r.seconds_per_epoch.ci_high or m for r, m in zip(rows, med, strict=True)])
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


def memory(analysis: Analysis, cfg: PlotConfig) -> Figure:
    """Bars of the median peak RSS in MiB."""
    rows = [r for r in analysis.contenders if r.max_rss_mib]
    names = [r.name for r in rows]
    fig, ax = plt.subplots(figsize=(cfg.width, max(2.5, 0.6 * len(names) + 1.5)))
    ax.barh(names, [r.max_rss_mib for r in rows], color=[_color(i) for i in range(len(names))])
    ax.invert_yaxis()
    ax.set_xlabel("peak resident memory (MiB, median)")
    return fig


def thread_scaling(analysis: Analysis, cfg: PlotConfig) -> Figure:
    """Median wall time against threads with 95 % CIs and the ideal t1 / n, and the speed-up
    over the fewest threads against the ideal n / n1, one line per implementation+algorithm."""
    fig, (times, speedup) = plt.subplots(1, 2, figsize=(cfg.width, cfg.height))
    cis = {(r.implementation, r.algorithm, r.threads): r.wall for r in analysis.contenders}
    ticks: set[int] = set()
    for i, group in enumerate(analysis.thread_scaling):
        points = sorted((p for p in group.points if p.median is not None), key=lambda p: p.threads)
        if not points:
            continue
        n = np.array([p.threads for p in points], dtype=float)
        t = np.array([p.median for p in points], dtype=float)
        ticks.update(int(x) for x in n)
        walls = [cis.get((group.implementation, group.algorithm, p.threads)) for p in points]
        low = np.array(
            [w.ci_low if w and w.ci_low is not None else m for w, m in zip(walls, t, strict=True)]
        )
        high = np.array(
            [w.ci_high if w and w.ci_high is not None else m for w, m in zip(walls, t, strict=True)]
        )
        label = f"{group.implementation} {group.algorithm}".strip()
        times.errorbar(
            n, t, yerr=[t - low, high - t], marker="o", capsize=3, color=_color(i), label=label
        )
        times.plot(n, t[0] * n[0] / n, linestyle=":", color=_color(i), alpha=0.7)
        speedup.plot(n, t[0] / t, marker="o", color=_color(i), label=label)
    if ticks:
        top = max(ticks)
        speedup.plot(
            [min(ticks), top], [1, top / min(ticks)], color="grey", linestyle=":", label="ideal"
        )
    for ax in (times, speedup):
        ax.set_xticks(sorted(ticks))
        ax.xaxis.set_major_formatter("{x:.0f}")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("threads")
        ax.grid(alpha=0.3)
    times.set_ylabel("median wall time per run (s), 95 % CI")
    times.set_title("time (dotted: ideal t1 / n)", fontsize="small")
    speedup.set_ylabel("speed-up over the fewest threads (x)")
    speedup.set_title("speed-up (dotted: ideal)", fontsize="small")
    speedup.legend(fontsize="small")
    return fig


def _save(fig: Figure, title: str, out: Path, name: str, cfg: PlotConfig) -> None:
    """Write one figure as PNG and SVG (SVG without a date, so reruns give the same file)."""
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(no_links(out / f"{name}.png"), dpi=cfg.dpi)
    fig.savefig(no_links(out / f"{name}.svg"), metadata={"Date": None})
    plt.close(fig)


def makers(
    analysis: Analysis, epochs: pd.DataFrame | None, cfg: PlotConfig
) -> dict[str, Callable[[], Figure]]:
    """The figures the folder's data supports, by name (each one has something to draw)."""
    rows = analysis.contenders
    order = [r.name for r in rows]
    out: dict[str, Callable[[], Figure]] = {}
    if any(r.wall_samples for r in rows):
        out["time_distribution"] = lambda: time_distribution(analysis, cfg)
    if any(r.split for r in rows):
        out["breakdown"] = lambda: breakdown(analysis, cfg)
    if any(r.train_gflops is not None for r in rows):
        out["why"] = lambda: why(analysis, cfg)
    if epochs is not None and epochs["test_accuracy"].notna().any():
        out["accuracy"] = lambda: accuracy(epochs, order, analysis.target, cfg)
    if any(r.seconds_per_epoch.median is not None for r in rows):
        out["seconds_per_epoch"] = lambda: seconds_per_epoch(analysis, cfg)
    if any(r.max_rss_mib for r in rows):
        out["memory"] = lambda: memory(analysis, cfg)
    if analysis.thread_scaling:
        out["thread_scaling"] = lambda: thread_scaling(analysis, cfg)
    return {name: out[name] for name in FIGURES if name in out}


def _figures(folder: Folder, cfg: PlotConfig) -> dict[str, Callable[[], Figure]]:
    """The folder's figure makers, from its Analysis and epochs.csv."""
    epochs = read_table(folder.path / "tables" / "epochs.csv", EpochRecord)
    if epochs is not None:
        for column in ("run_index", "epoch", "test_accuracy", "elapsed_seconds"):
            epochs[column] = pd.to_numeric(epochs[column], errors="coerce")
    return makers(folder.analysis, epochs, cfg)


def plot(where: Folder | Path, cfg: PlotConfig | None = None) -> None:
    """Draw every figure that the folder's data supports into plots/."""
    cfg = cfg or PlotConfig()
    folder = Folder.of(where)
    names = list(_figures(folder, cfg))
    out = no_links(folder.path / "plots" / "figures.json").parent  # plots/ itself not a link
    out.mkdir(exist_ok=True)
    for stale in out.iterdir():
        if stale.is_file():
            stale.unlink()
    jobs = [(folder, name, cfg) for name in names]
    if len(jobs) > 1 and "forkserver" in multiprocessing.get_all_start_methods():
        # Drawing is most of this stage and every figure is independent: one worker per core.
        # Workers come from a fork server that imported this module once (cheap to fork, and
        # clean: a process forked from the harness itself could inherit BLAS thread-pool locks
        # held by threads that do not exist in the child, and hang).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["harness.presentation.plot"])
        with context.Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
            pool.starmap(_draw, jobs)
    else:
        for job in jobs:
            _draw(*job)
    write_json(out / "figures.json", {"figures": [{"name": name} for name in names]})


def _draw(folder: Folder, name: str, cfg: PlotConfig) -> None:
    """Make and save one figure (a worker gets the folder, its Analysis included, pickled)."""
    make = _figures(folder, cfg)[name]
    with plt.rc_context({"svg.hashsalt": "mlp-bench", "font.size": 10}):
        _save(make(), FIGURES[name][0], folder.path / "plots", name, cfg)
