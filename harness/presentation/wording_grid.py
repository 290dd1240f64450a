"""The 2x2's words: grid's numbers (analysis.json `grid`) as table cells and sentences.

Standard library only, like wording, whose comparison sentence each ratio reuses.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.model.analysis import Analysis
from harness.model.evidence import Grid, GridCell, GridRatio, RatioTest
from harness.presentation.formats import num
from harness.presentation.wording import comparison


def _short(cmp: GridRatio | RatioTest | None) -> str:
    """A 2x2 ratio for a table cell: `1.49x faster (1.30-1.71)`; empty when not measured."""
    if not cmp:
        return ""
    r, low, high, kind = cmp.ratio, cmp.ci_low, cmp.ci_high, cmp.verdict
    if r is None:
        return "no comparable runs"
    if low is None:
        return f"{r:.2f}x (too few pairs for a CI)"
    if kind == "slower":
        return f"{1 / r:.2f}x slower ({1 / high:.2f}-{1 / low:.2f})"
    if kind == "faster":
        return f"{r:.2f}x faster ({low:.2f}-{high:.2f})"
    return f"{kind}: {r:.2f}x ({low:.2f}-{high:.2f})"


def _ratio_lines(cmp: GridRatio | None) -> list[str]:
    """A ratio cell: the whole run's ratio, then the training epoch's (start-up left out)."""
    if not cmp:
        return []
    lines = [f"whole run: {_short(cmp)}"]
    if cmp.per_epoch:
        lines.append(f"per epoch: {_short(cmp.per_epoch)}")
    return lines


def _effect(rows: list[GridRatio | None]) -> tuple[GridRatio, float] | None:
    """The ratio furthest from 1 either way (the largest effect of one kind) and its size."""
    sized = [(r, max(r.ratio, 1 / r.ratio)) for r in rows if r and r.ratio]
    return max(sized, key=lambda pair: pair[1]) if sized else None


def _per_epoch(r: GridRatio) -> GridRatio | None:
    """The ratio r over one training epoch (its per_epoch test, named as r); None without."""
    t = r.per_epoch
    if t is None:
        return None
    return replace(
        r, ratio=t.ratio, ci_low=t.ci_low, ci_high=t.ci_high, p_value=t.p_value,
        verdict=t.verdict, n=t.n,
    )  # fmt: skip


def grid_answer(g: Grid, per_epoch: bool = False) -> str | None:
    """Which of the two made the larger difference at this thread count, with the sizes:
    over the whole run, or (per_epoch) over one training epoch."""
    lang_rows: list[GridRatio | None] = list(g.language_ratios)
    lib_rows: list[GridRatio | None] = list(g.library_ratios)
    if per_epoch:
        lang_rows = [_per_epoch(r) for r in g.language_ratios]
        lib_rows = [_per_epoch(r) for r in g.library_ratios]
    lang, lib = _effect(lang_rows), _effect(lib_rows)
    if lang is None or lib is None:
        return None
    bigger = "language" if lang[1] >= lib[1] else "library"
    decided = {lang[0].verdict, lib[0].verdict} <= {"faster", "slower"}
    caveat = "" if decided else " (not every verdict is decided)"
    scope = "Per training epoch" if per_epoch else "Over the whole run"
    return (
        f"{scope} the larger effect is the {bigger}'s{caveat}: language {lang[1]:.2f}x "
        f"({lang[0].contender} vs {lang[0].reference}), library {lib[1]:.2f}x "
        f"({lib[0].contender} vs {lib[0].reference})."
    )


def grid(g: Grid, analysis: Analysis) -> dict[str, Any]:
    """One 2x2 in words: title, a row per language, the language-ratio rows and sentences."""
    cells = {(c.language, c.approach): c for c in g.cells}
    base, others = g.languages[0], g.languages[1:]
    library = {r.language: r for r in g.library_ratios}
    language = {(r.language, r.approach): r for r in g.language_ratios}
    threads = g.threads
    plural = "s" if threads != 1 else ""
    return {
        "title": f"At {threads} thread{plural}" if threads is not None else "2x2",
        "approaches": g.approaches,
        "rows": [
            {
                "language": lang,
                "cells": [_cell_lines(cells.get((lang, a))) for a in g.approaches],
                "library": _ratio_lines(library.get(lang)),
            }
            for lang in g.languages
        ],
        "ratio_rows": [
            {
                "label": f"{lang} vs {base}",
                "cells": [_ratio_lines(language.get((lang, a))) for a in g.approaches],
            }
            for lang in others
        ],
        "sentences": [
            f"Language, {r.approach} code: {comparison(r, analysis)}" for r in g.language_ratios
        ]
        + [f"Library, {r.language}: {comparison(r, analysis)}" for r in g.library_ratios],
        "answers": [a for a in (grid_answer(g), grid_answer(g, per_epoch=True)) if a],
    }


def _cell_lines(cell: GridCell | None) -> list[str]:
    """A 2x2 cell: the contender, its median time to target and its training time per epoch."""
    if cell is None:
        return ["not run"]
    lines = [cell.contender]
    if not cell.successes:
        return [*lines, f"no run reached the target ({cell.status})"]
    lines.append(f"{num(cell.wall_median)} s to target")
    if cell.seconds_per_epoch_median is not None:
        lines.append(f"{num(cell.seconds_per_epoch_median)} s per epoch")
    return lines
