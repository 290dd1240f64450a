"""The 2x2: language x approach, so a gap can be told apart into its two causes.

A contender joins when its declaration names a `language` and an `approach` ("from-scratch" or
"framework"; contenders.json). For each thread count where both approaches ran, each cell is the
first contender with that language, approach, thread count and the main reference's algorithm:

                 from-scratch       framework
    Python       python-numpy       python-torch
    Rust         rust               rust-candle

Two kinds of ratio answer "language or library?", each a paired test (harness.analysis.pairing):

    language, within a column:  t(reference language's cell) / t(other language's cell)
    library, within a row:      t(from-scratch cell) / t(framework cell)

so a language ratio above 1 means the other language is faster with the same kind of code, and
a library ratio above 1 means the framework is faster than from-scratch code in that language.
The reference language is the main reference's (Python for python-numpy). GPU contenders
declare no approach: a GPU against a CPU is not like for like.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.analysis import pairing

APPROACHES = ("from-scratch", "framework")  # column order
# Of pairing.compare_pair's fields, those the 2x2 shows.
KEPT = (
    "contender", "reference", "pairing", "ratio", "ci_low", "ci_high", "p_value", "verdict", "n",
    "per_epoch",
)  # fmt: skip


def cells(summaries: dict[str, dict[str, Any]], algorithm: Any) -> dict[Any, dict]:
    """threads -> {(language, approach): contender name}, the first declared one per cell."""
    out: dict[Any, dict[tuple[str, str], str]] = {}
    for name, s in summaries.items():
        language, approach = s.get("language"), s.get("approach")
        if not language or approach not in APPROACHES or s.get("algorithm") != algorithm:
            continue
        out.setdefault(s.get("threads"), {}).setdefault((language, approach), name)
    return out


def _ratio(
    ok: dict[str, pd.DataFrame], summaries: dict[str, dict], ref: str, name: str, cfg: Any
) -> dict[str, Any]:
    """One ratio of the grid: the paired comparison, trimmed to what the 2x2 shows."""
    row = pairing.compare_pair(ok, summaries, ref, name, cfg)
    return {key: row[key] for key in KEPT}


def grids(
    summaries: dict[str, dict[str, Any]],
    ok: dict[str, pd.DataFrame],
    main: str | None,
    cfg: Any,
) -> list[dict[str, Any]]:
    """One 2x2 per thread count with both approaches and at least one ratio (two cells in a
    row or a column)."""
    if main is None or main not in summaries:
        return []
    base = summaries[main].get("language")
    out = []
    for threads, grid in cells(summaries, summaries[main].get("algorithm")).items():
        if {approach for _, approach in grid} != set(APPROACHES):
            continue  # one column only: its language ratios are the summary's already
        order = dict.fromkeys([base, *(lang for lang, _ in grid)])
        languages = [lang for lang in order if any((lang, a) in grid for a in APPROACHES)]
        language = [
            {
                "language": lang,
                "approach": a,
                **_ratio(ok, summaries, grid[(base, a)], grid[(lang, a)], cfg),
            }
            for a in APPROACHES
            for lang in languages
            if lang != base and (base, a) in grid and (lang, a) in grid
        ]
        scratch, framework = APPROACHES
        library = [
            {
                "language": lang,
                **_ratio(ok, summaries, grid[(lang, scratch)], grid[(lang, framework)], cfg),
            }
            for lang in languages
            if (lang, scratch) in grid and (lang, framework) in grid
        ]
        if not language and not library:
            continue
        out.append(
            {
                "threads": threads,
                "languages": languages,
                "approaches": list(APPROACHES),
                "cells": [
                    {"language": lang, "approach": a, **_cell(summaries[name])}
                    for (lang, a), name in grid.items()
                ],
                "language_ratios": language,
                "library_ratios": library,
            }
        )
    return sorted(out, key=lambda g: (g["threads"] is None, g["threads"] or 0))


def _cell(summary: dict[str, Any]) -> dict[str, Any]:
    """What a cell shows: median time to target (the whole process) and per training epoch."""
    return {
        "contender": summary["name"],
        "status": summary["status"],
        "wall_median": summary["wall"]["median"],
        "seconds_per_epoch_median": summary["seconds_per_epoch"]["median"],
        "successes": summary["successes"],
    }
