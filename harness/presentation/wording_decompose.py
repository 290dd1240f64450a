"""Kernel or language in words: decompose's numbers (analysis.json `decomposition`) as
one table per report and one sentence per thread count, plus the kernels each side ran.

Standard library only, like harness.presentation.wording.
"""

from __future__ import annotations

from typing import Any

from harness.model.analysis import Analysis
from harness.model.evidence import Decomposition, Factors, RatioTest
from harness.presentation.formats import md
from harness.presentation.wording import level


def factor(t: RatioTest | None) -> str:
    """A factor for a table cell: `1.20x (1.10-1.31)`, with its verdict when not decided."""
    if not t or t.ratio is None:
        return "no comparable runs"
    if t.ci_low is None:
        return f"{t.ratio:.2f}x (too few pairs for a CI)"
    text = f"{t.ratio:.2f}x ({t.ci_low:.2f}-{t.ci_high:.2f})"
    return text if t.verdict in ("faster", "slower") else f"{text}, {t.verdict}"


def sentence(d: Decomposition, scope: str = "whole") -> str | None:
    """`At 1 thread, of rust's 1.30x over python-numpy, 1.20x is the language and 1.08x the
    kernels` (ratios above 1: Rust faster; below 1 said as slower)."""
    f: Factors | None = getattr(d, scope)
    if not f or f.total.ratio is None:
        return None
    threads = d.threads
    where = f"At {threads} thread{'s' if threads != 1 else ''}"
    what = "over the whole run" if scope == "whole" else "per training epoch"
    if d.withheld:
        why = " and ".join(v.replace("_", " ") for v in d.withheld)
        return f"{where}, {what}: {why} (see the headline): the split is shown, not judged."
    total, lang, kern = (getattr(f, k).ratio for k in ("total", "language", "kernel"))
    return (
        f"{where}, {what}, of {d.native}'s {total:.2f}x over {d.reference}, "
        f"{lang:.2f}x is the language ({d.twin} vs {d.reference}: the same OpenBLAS "
        f"kernels, different code around them) and {kern:.2f}x the kernels ({d.native} vs "
        f"{d.twin}: the same Rust step, {_kernels(threads)}); {_reading(f)}."
    )


def _kernels(threads: Any) -> str:
    """What the kernel factor compares: at more than one thread, the threading comes with it."""
    if threads == 1:
        return "its own kernels against OpenBLAS's"
    return (
        "its own kernels on a mini-batch split over the threads against OpenBLAS's kernels "
        "threading each product, so the way threads are used is part of this factor"
    )


def _reading(f: Factors) -> str:
    """Which factor is larger, and whether each is decided (its CI excludes 1)."""
    lang, kern = f.language, f.kernel
    size = {k: max(t.ratio, 1 / t.ratio) for k, t in (("language", lang), ("kernel", kern))}
    bigger = max(size, key=lambda k: size[k])
    undecided = [k for k, t in (("language", lang), ("kernel", kern)) if t.verdict not in
                 ("faster", "slower")]  # fmt: skip
    tail = ""
    if len(undecided) == 1:
        tail = f"; the {undecided[0]} factor's CI holds 1"
    elif undecided:
        tail = "; both factors' CIs hold 1"
    return f"the {bigger} is the larger factor ({f.n} triples of runs){tail}"


def kernels(env: dict[str, Any] | None, analysis: Analysis) -> list[str]:
    """Which kernels each side ran: the Rust binary's measured choice (env.json rust_kernels)
    and NumPy's BLAS."""
    env = env or {}
    lines = []
    for threads, choice in sorted((env.get("rust_kernels") or {}).items()):
        if "chosen" in choice:
            times = ", ".join(
                f"{k} {1000 * s:.2f} ms" for k, s in (choice.get("seconds_per_step") or {}).items()
            )
            how = f"chosen by measurement ({times} per step)" if times else "named by --kernel"
            lines.append(f"rust at {threads} thread(s): {choice['chosen']}, {how}")
        elif "error" in choice:
            lines.append(f"rust at {threads} thread(s): no kernel choice ({choice['error']})")
    blas = analysis.floor.blas
    if blas:
        lines.append(f"python-numpy and rust-numpy-blas: {blas} (the one file NumPy loaded)")
    return lines


def section(analysis: Analysis, env: dict[str, Any] | None) -> dict[str, Any] | None:
    """The report's "kernel or language" section: table rows, sentences, kernels; None when no
    thread count had all three contenders."""
    rows = analysis.decomposition
    if not rows:
        return None
    table = []
    for d in rows:
        for scope, label in (("whole", "whole run"), ("per_epoch", "per training epoch")):
            f = getattr(d, scope)
            if f:
                table.append(
                    {
                        "threads": d.threads,
                        "scope": label,
                        "cells": [factor(getattr(f, k)) for k in ("total", "language", "kernel")],
                        "n": f.n,
                    }
                )
    return {
        "level": level(analysis),
        "names": rows[0],
        "rows": table,
        "sentences": [s for d in rows for s in (sentence(d), sentence(d, "per_epoch")) if s],
        "kernels": kernels(env, analysis),
    }


def markdown(sec: dict[str, Any] | None) -> list[str]:
    """The section as summary.md lines (empty without a section)."""
    if not sec:
        return []
    n = sec["names"]
    lines = ["", "Kernel or language: Rust's speed-up over NumPy = language x kernel:", ""]
    head = ["threads", "scope", f"total: {n.native} vs {n.reference}"]
    head += [f"language: {n.twin} vs {n.reference}", f"kernel: {n.native} vs {n.twin}"]
    lines += ["| " + " | ".join(md(h) for h in head) + " |", "|---:|---|---:|---:|---:|"]
    for r in sec["rows"]:
        lines.append("| " + " | ".join(md(c) for c in [str(r["threads"]), r["scope"], *r["cells"]]))
        lines[-1] += " |"
    lines += [""] + [f"- {md(s)}" for s in sec["sentences"]]
    lines += [f"- Kernels: {md(k)}" for k in sec["kernels"]]
    return lines
