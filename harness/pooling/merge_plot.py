"""Figures of a merged report (matplotlib, Agg), one set per workload group, as PNG bytes.

Every number drawn is a field of merge's result; merge_report embeds the bytes as data:
URIs and saves them under plots/. A figure without data is left out, never drawn empty.

- forest: each like-for-like pair's ratio per machine with its 95 % CI, on a log axis;
- fraction: each contender's training GFLOP/s as a fraction of its machine's own sgemm rate;
- scaling: speed-up over the fewest threads measured, against threads, per machine and
  implementation, so machines of different core counts line up (ideal scaling dashed).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from harness.pooling.merge import Group

COLORS = plt.get_cmap("tab10").colors


@dataclass(frozen=True)
class MergePlotConfig:
    """Figure settings."""

    width: float = 8.0  # inches
    row_height: float = 0.3  # inches per machine in the forest and fraction plots
    char_width: float = 0.075  # inches per character of a machine's label (font size 9)
    max_height: float = 60.0  # inches: a 200-machine forest plot stays readable, and finite
    dpi: int = 100
    labelled_machines: int = 8  # thread scaling: machine names written on the lines up to this


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
        "count: one line per machine and implementation (colour), ending at the most threads "
        "that machine ran; dashed grey: ideal.",
    ),
}


def _rows_figure(labels: list[str], cfg: MergePlotConfig) -> tuple[Figure, Any]:
    """A figure with one row per label; margins set from the label lengths (not measured by
    tight_layout, whose text measuring is most of the time with hundreds of rows)."""
    height = min(cfg.max_height, max(2.8, cfg.row_height * len(labels) + 1.6))
    fig, ax = plt.subplots(figsize=(cfg.width, height))
    left = min(0.55, (0.3 + cfg.char_width * max(map(len, labels))) / cfg.width)
    fig.subplots_adjust(left=left, right=0.97, top=1 - 0.55 / height, bottom=0.75 / height)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.grid(alpha=0.3, axis="x")
    return fig, ax


def _offsets(count: int) -> list[float]:
    """Vertical offsets of count series within one row."""
    return [0.0] if count == 1 else list(np.linspace(-0.25, 0.25, count))


def forest(group: Group, cfg: MergePlotConfig) -> Figure | None:
    """One row per machine; each pair a colour (one drawing call each), ratio and 95 % CI."""
    rows = [p for p in group.pairs if p.ratio is not None]
    if not rows:
        return None
    machines = list(dict.fromkeys(p.machine for p in rows))
    kinds = list(dict.fromkeys((p.contender, p.reference) for p in rows))
    fig, ax = _rows_figure(machines, cfg)
    for k, (kind, offset) in enumerate(zip(kinds, _offsets(len(kinds)), strict=True)):
        mine = [p for p in rows if (p.contender, p.reference) == kind]
        ratio = np.array([p.ratio for p in mine])
        low = np.array([p.ci_low or p.ratio for p in mine])
        high = np.array([p.ci_high or p.ratio for p in mine])
        ys = [machines.index(p.machine) + offset for p in mine]
        ax.errorbar(
            ratio, ys, xerr=[ratio - low, high - ratio], fmt="o", color=COLORS[k % len(COLORS)],
            capsize=3, label=f"{kind[0]} vs {kind[1]}",
        )  # fmt: skip
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _pos: f"{x:g}x"))
    ax.set_xlabel("speed-up t(reference) / t(contender), 95 % CI")
    ax.legend(fontsize="small", loc="best")
    return fig


def fraction(group: Group, cfg: MergePlotConfig) -> Figure | None:
    """One row per machine; each contender a colour: its fraction of the machine's sgemm rate."""
    rows = [c for c in group.contenders if c.sgemm_fraction is not None]
    if not rows:
        return None
    machines = list(dict.fromkeys(c.machine for c in rows))
    names = list(dict.fromkeys(c.contender for c in rows))
    fig, ax = _rows_figure(machines, cfg)
    for k, (name, offset) in enumerate(zip(names, _offsets(len(names)), strict=True)):
        mine = [c for c in rows if c.contender == name]
        ys = [machines.index(c.machine) + offset for c in mine]
        ax.scatter([c.sgemm_fraction for c in mine], ys, color=COLORS[k % len(COLORS)], label=name)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, max(1.05, max(c.sgemm_fraction for c in rows) * 1.05))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("training GFLOP/s / the machine's sgemm GFLOP/s at the same threads")
    ax.legend(fontsize="small", loc="best")
    return fig


def scaling(group: Group, cfg: MergePlotConfig) -> Figure | None:
    """Speed-up over the fewest threads, one line per machine and implementation (colour:
    implementation), on log2 axes; each line ends at its machine's largest thread count,
    labelled with the machine when there are few."""
    if not group.scaling:
        return None
    kinds = list(dict.fromkeys(s.implementation for s in group.scaling))
    few = len({s.machine for s in group.scaling}) <= cfg.labelled_machines
    fig, ax = plt.subplots(figsize=(cfg.width, 4.5))
    top = 1
    for s in group.scaling:
        threads = [t for t, _ in s.points]
        speed = [s.points[0][1] / seconds for _, seconds in s.points]
        top = max(top, *threads)
        color = COLORS[kinds.index(s.implementation) % len(COLORS)]
        ax.plot(threads, speed, marker="o", color=color, alpha=0.9 if few else 0.4)
        if few:
            ax.annotate(
                f" {s.machine} ({s.cores} cores)", (threads[-1], speed[-1]), fontsize="x-small",
                color=color, va="center",
            )  # fmt: skip
    for k, kind in enumerate(kinds):
        ax.plot([], [], marker="o", color=COLORS[k % len(COLORS)], label=kind)
    ax.plot([1, top], [1, top], color="grey", linestyle="--", linewidth=1, label="ideal")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}x"))
    ax.set_xlabel("threads")
    ax.set_ylabel("speed-up over the fewest threads")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
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
            fig.suptitle(FIGURES[name][0], y=1 - 0.12 / fig.get_figheight(), va="top")
            if name == "scaling":
                fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=cfg.dpi)
            plt.close(fig)
        out[name] = buffer.getvalue()
    return out
