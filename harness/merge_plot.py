"""Figures of a merged report (matplotlib, Agg), one set per workload group, as PNG bytes.

Every number drawn is a field of harness.merge's result; merge_report embeds the bytes as data:
URIs and saves them under plots/. A figure without data is left out, never drawn empty.

- forest: each like-for-like pair's ratio per machine with its 95 % CI, on a log axis;
- fraction: each contender's training GFLOP/s as a fraction of its machine's own sgemm rate;
- scaling: speed-up over the fewest threads measured, against threads, per machine and
  implementation, so machines of different core counts line up (ideal scaling dashed).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from harness.merge import Group

COLORS = plt.get_cmap("tab10").colors
STYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class MergePlotConfig:
    """Figure settings."""

    width: float = 8.0  # inches
    row_height: float = 0.28  # inches per row of the forest and fraction plots
    max_height: float = 60.0  # inches: a 200-machine forest plot stays readable, and finite
    dpi: int = 100


FIGURES: dict[str, tuple[str, str]] = {
    "forest": (
        "Ratio per machine",
        "Each like-for-like pair's speed-up t(reference) / t(contender) on each machine, with "
        "its 95 % CI (log axis; right of 1: the contender is faster). Machines with several "
        "folders pool their pairs.",
    ),
    "fraction": (
        "Fraction of each machine's own sgemm rate",
        "Training GFLOP/s of each contender divided by the sgemm rate the harness measured on "
        "the same machine at the same thread count: comparable across machines.",
    ),
    "scaling": (
        "Thread scaling",
        "Median wall time at the fewest threads measured divided by the median at each thread "
        "count, per machine (colour) and implementation (line style); dashed grey: ideal.",
    ),
}


def _height(rows: int, cfg: MergePlotConfig) -> float:
    return min(cfg.max_height, max(2.5, cfg.row_height * rows + 1.5))


def forest(group: Group, cfg: MergePlotConfig) -> Figure | None:
    """One row per (pair, machine) with a ratio; a colour per pair."""
    rows = [p for p in group.pairs if p.ratio is not None]
    if not rows:
        return None
    kinds = list(dict.fromkeys((p.contender, p.reference) for p in rows))
    fig, ax = plt.subplots(figsize=(cfg.width, _height(len(rows), cfg)))
    for y, p in enumerate(rows):
        color = COLORS[kinds.index((p.contender, p.reference)) % len(COLORS)]
        low, high = p.ci_low or p.ratio, p.ci_high or p.ratio
        ax.errorbar(
            [p.ratio], [y], xerr=[[p.ratio - low], [high - p.ratio]], fmt="o", color=color,
            capsize=3, label=f"{p.contender} vs {p.reference}" if p is _first(rows, p) else None,
        )  # fmt: skip
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _pos: f"{x:g}x"))
    ax.set_yticks(range(len(rows)), [f"{p.machine} ({p.threads} thr.)" for p in rows])
    ax.invert_yaxis()
    ax.set_xlabel("speed-up t(reference) / t(contender), 95 % CI")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize="small", loc="best")
    return fig


def _first(rows: list, p: object) -> object:
    """The first row of p's pair (the one that carries the legend label)."""
    return next(r for r in rows if (r.contender, r.reference) == (p.contender, p.reference))


def fraction(group: Group, cfg: MergePlotConfig) -> Figure | None:
    """Horizontal bars: machine x contender, fraction of that machine's sgemm rate."""
    rows = [c for c in group.contenders if c.sgemm_fraction is not None]
    if not rows:
        return None
    names = list(dict.fromkeys(c.contender for c in rows))
    fig, ax = plt.subplots(figsize=(cfg.width, _height(len(rows), cfg)))
    for y, c in enumerate(rows):
        color = COLORS[names.index(c.contender) % len(COLORS)]
        first = next(r for r in rows if r.contender == c.contender) is c
        ax.barh([y], [c.sgemm_fraction], color=color, label=c.contender if first else None)
    ax.set_yticks(range(len(rows)), [f"{c.machine}: {c.contender}" for c in rows])
    ax.invert_yaxis()
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("training GFLOP/s / the machine's sgemm GFLOP/s at the same threads")
    ax.legend(fontsize="small", loc="best")
    return fig


def scaling(group: Group, cfg: MergePlotConfig) -> Figure | None:
    """Speed-up over the fewest threads, per machine and implementation, on log2 axes."""
    if not group.scaling:
        return None
    machines = list(dict.fromkeys(s.machine for s in group.scaling))
    kinds = list(dict.fromkeys(s.implementation for s in group.scaling))
    fig, ax = plt.subplots(figsize=(cfg.width, 4.5))
    top = 1
    for s in group.scaling:
        threads = [t for t, _ in s.points]
        base = s.points[0][1]
        speed = [base / seconds for _, seconds in s.points]
        top = max(top, *threads)
        ax.plot(
            threads, speed, marker="o", color=COLORS[machines.index(s.machine) % len(COLORS)],
            linestyle=STYLES[kinds.index(s.implementation) % len(STYLES)],
            label=f"{s.machine}: {s.implementation} ({s.cores} cores)",
        )  # fmt: skip
    ax.plot([1, top], [1, top], color="grey", linestyle="--", linewidth=1, label="ideal")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}x"))
    ax.set_xlabel("threads")
    ax.set_ylabel("speed-up over the fewest threads")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return fig


def draw(group: Group, cfg: MergePlotConfig | None = None) -> dict[str, bytes]:
    """The group's figures as PNG bytes, by name, in report order."""
    cfg = cfg or MergePlotConfig()
    out = {}
    for name, make in (("forest", forest), ("fraction", fraction), ("scaling", scaling)):
        with plt.rc_context({"font.size": 9}):
            fig = make(group, cfg)
            if fig is None:
                continue
            fig.suptitle(FIGURES[name][0])
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=cfg.dpi)
            plt.close(fig)
        out[name] = buffer.getvalue()
    return out
