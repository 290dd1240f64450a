"""The merged report: merge's result -> report.html, summary.md, merged.json, plots/.

Numbers come from merge, sentences from here, number formats from formats, the
page's layout from templates/merge.html.j2 (self-contained: figures as data: URIs).
"""

from __future__ import annotations

import base64
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import __version__
from harness.model.records import write_json
from harness.pooling.merge import Answer, Group, Machine, Merged, PairResult
from harness.pooling.merge_plot import FIGURES, draw
from harness.presentation import formats
from harness.presentation.report import environment

RULES = (
    "Folders are grouped by workload (the spec without its machine-local dataset path, "
    "hashed) and never pooled across groups. Within a group, folders whose machine "
    "fingerprint (host, CPU, cores, memory, OS, NumPy, its BLAS and kernel, rustc, torch, "
    "harness commit) is identical pool; any difference makes another row. Pooled runs pair "
    "only within their own folder (same seed and round); a machine's ratio is the geometric "
    "mean of all those paired ratios t(reference) / t(contender), its 95 % CI the t-interval "
    "over them, and its verdict the one rule of a single report (faster or slower exactly "
    "when the CI excludes 1). Each folder's own ratio is listed beside the pooled one. "
    "GFLOP/s: training FLOPs per epoch / the median seconds per epoch; its fraction: of the "
    "sgemm rate the harness measured on that machine at the same thread count."
)


def workload_text(group: Group) -> str:
    """`mnist-mini, target 90 %, 784-256-10, batch 512, learning rate 0.1, spec 84c0d05f810c`."""
    w = group.workload
    parts = [w.dataset]
    if w.target is not None:
        parts.append(f"target {formats.pct(w.target, 1).replace('.0 %', ' %')}")
    if w.layers:
        parts.append("-".join(map(str, w.layers)))
    if w.batch_size is not None:
        parts.append(f"batch {w.batch_size}")
    if w.learning_rate is not None:
        parts.append(f"learning rate {w.learning_rate:g}")
    return ", ".join(parts) + f" (spec {w.key})"


def answer_text(a: Answer) -> str:
    """The one-line answer of a group (harness.pooling.merge rule 5), in words."""
    if not a.machines:
        return "No machine ran a Rust and a Python contender at equal threads in this group."
    ratio = formats.ratio
    word = "machine" if a.machines == 1 else "machines"
    text = (
        f"Rust was faster than Python at equal threads on {a.faster} of {a.machines} {word}"
        f" (slower on {a.slower}, mixed or inconclusive on {a.mixed}); speed-up "
        f"t(Python) / t(Rust) {ratio(a.ratio_low)}x-{ratio(a.ratio_high)}x over {a.pairs} "
        f"like-for-like {'pair' if a.pairs == 1 else 'pairs'}."
    )
    top = ", ".join(a.top)
    if not a.compared:
        return text + " One machine only: no traits to compare."
    if a.traits:
        traits = " and ".join(f"{name} {value}" for name, value in a.traits)
        return text + f" Where Rust gained most ({top}): {traits}, which no other machine has."
    return text + (
        f" Where Rust gained most ({top}), no single trait (SIMD, BLAS kernel, CPU vendor, "
        "architecture, cores, BLAS) sets the machines apart from the others."
    )


def machine_row(label: str, m: Machine, sgemm: dict[int, float], folders: int) -> list[str]:
    """The machine table's cells."""
    simd = m.simd or "n/a"
    if m.simd and m.simd_source == "BLAS kernel":
        simd += " (from the BLAS kernel)"
    rates = ", ".join(f"{t}: {formats.num(r, 3)}" for t, r in sgemm.items()) or "n/a"
    commit = (m.commit or "n/a")[:10] + (" (dirty)" if m.dirty else "")
    return [
        label, m.cpu_model, formats.num(m.logical_cores), simd, formats.num(m.memory_gib),
        f"{m.os} {m.arch}".strip(), m.blas or "n/a", m.blas_kernel or "n/a", m.numpy or "n/a",
        m.rustc or "n/a", m.torch or "none", m.gpu or "none", rates, commit, str(folders),
    ]  # fmt: skip


MACHINE_HEAD = [
    "machine", "CPU", "cores", "SIMD", "memory GiB", "OS", "BLAS", "kernel", "NumPy", "rustc",
    "torch", "GPU", "sgemm GFLOP/s by threads", "harness commit", "folders",
]  # fmt: skip
PAIR_HEAD = [
    "machine", "threads", "speed-up (95 % CI)", "verdict", "p", "pairs", "each folder",
    "GFLOP/s", "of sgemm", "reference GFLOP/s", "reference of sgemm",
]  # fmt: skip


def pair_row(p: PairResult) -> list[str]:
    """A pair table's cells for one machine."""
    ratio, num, pct = formats.ratio, formats.num, formats.pct
    ci = f" ({ratio(p.ci_low)}-{ratio(p.ci_high)})" if p.ci_low is not None else ""
    folders = ", ".join(f"{ratio(r)}x" for r in p.folder_ratios) if p.folders > 1 else ""
    return [
        p.machine, num(p.threads), f"{ratio(p.ratio)}x{ci}", p.verdict or "n/a",
        formats.p_value(p.p_value), f"{p.n}{'' if p.paired else ' (unpaired)'}", folders,
        num(p.gflops, 3), pct(p.sgemm_fraction), num(p.reference_gflops, 3),
        pct(p.reference_sgemm_fraction),
    ]  # fmt: skip


def group_context(group: Group, merged: Merged, figures: dict[str, bytes]) -> dict[str, Any]:
    """One group's tables, sentences and figures."""
    kinds = list(dict.fromkeys((p.contender, p.reference) for p in group.pairs))
    return {
        "title": workload_text(group),
        "key": group.workload.key,
        "answer": answer_text(group.answer),
        "machines": [
            machine_row(gm.label, merged.machines[gm.label], gm.sgemm, len(gm.folders))
            for gm in group.machines
        ],
        "folders": [(gm.label, f) for gm in group.machines for f in gm.folders],
        "pairs": [
            (
                f"{name} vs {ref}",
                [pair_row(p) for p in group.pairs if (p.contender, p.reference) == (name, ref)],
            )
            for name, ref in kinds
        ],
        "figures": [
            {
                "name": name,
                "file": f"plots/{group.workload.key}-{name}.png",
                "title": FIGURES[name][0],
                "caption": FIGURES[name][1],
                "data_uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            }
            for name, png in figures.items()
        ],
    }


def context(merged: Merged, figures: list[dict[str, bytes]]) -> dict[str, Any]:
    """Everything the page and summary.md show."""
    count = len({m for g in merged.groups for m in (x.label for x in g.machines)})
    folders = sum(len(m.folders) for g in merged.groups for m in g.machines)
    return {
        "title": f"MLP training benchmark on {count} machine{'s' if count != 1 else ''}",
        "inputs": (
            f"{folders} of {merged.inputs} folder{'s' if merged.inputs != 1 else ''} merged "
            f"into {len(merged.groups)} workload group{'s' if len(merged.groups) != 1 else ''}"
            + (f"; {len(merged.skipped)} skipped" if merged.skipped else "")
            + "."
        ),
        "groups": [
            group_context(g, merged, f) for g, f in zip(merged.groups, figures, strict=True)
        ],
        "skipped": merged.skipped,
        "recomputed": merged.recomputed,
        "rules": RULES,
        "machine_head": MACHINE_HEAD,
        "pair_head": PAIR_HEAD,
        "version": __version__,
    }


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    md = formats.md
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]


def summary_markdown(ctx: dict[str, Any]) -> str:
    """summary.md: the answers, the machine and pair tables, what was skipped."""
    md = formats.md
    lines = [f"# {md(ctx['title'])}", "", md(ctx["inputs"]), ""]
    for g in ctx["groups"]:
        lines += [f"**{md(g['title'])}: {md(g['answer'])}**", ""]
    for g in ctx["groups"]:
        lines += [f"## {md(g['title'])}", "", *_md_table(ctx["machine_head"], g["machines"]), ""]
        for title, rows in g["pairs"]:
            lines += [f"### {md(title)}", "", *_md_table(ctx["pair_head"], rows), ""]
    if ctx["skipped"]:
        lines += ["## Skipped", ""] + [f"- {md(s.reason)}" for s in ctx["skipped"]] + [""]
    lines += [md(ctx["rules"]), ""]
    return "\n".join(lines)


def write(merged: Merged, out: Path) -> Path:
    """Write report.html, summary.md, merged.json and plots/*.png into out; the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    figures = [draw(g) for g in merged.groups]
    ctx = context(merged, figures)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    for g, pngs in zip(merged.groups, figures, strict=True):
        for name, png in pngs.items():
            (plots / f"{g.workload.key}-{name}.png").write_bytes(png)
    write_json(out / "merged.json", asdict(merged))
    (out / "summary.md").write_text(summary_markdown(ctx), encoding="utf-8")
    page = out / "report.html"
    page.write_text(environment().get_template("merge.html.j2").render(ctx), encoding="utf-8")
    return page
