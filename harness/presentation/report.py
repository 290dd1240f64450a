"""The report stage: analysis.json + plots/ -> the self-contained report.html and summary.md.

It imports jinja2, the standard library, records and the words (wording,
wording_grid, formats) only (no numpy, pandas or matplotlib), so re-rendering
an unchanged folder stays fast. Every sentence comes from the wording modules, every number
format from harness.presentation.formats.
"""

from __future__ import annotations

import base64
import csv
import shlex
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from harness import __version__
from harness.model.analysis import Analysis, Comparison, ContenderSummary, Judged
from harness.model.evidence import SweepRow
from harness.model.folder import Folder
from harness.model.records import no_links, read_optional_json
from harness.presentation import formats, wording, wording_decompose, wording_env, wording_grid

RAW_PATTERNS = (
    "run.json",
    "outcome.json",
    "spec.json",
    "env.json",
    "parity.json",
    "hyperfine.json",
    "hyperfine/*.json",
    "hyperfine-json/*.json",
    "analysis.json",
    "summary.md",
    "tables/*.csv",
    "metrics/**/*.jsonl",
    "stderr/**/*.txt",
    "plots/*.svg",
)
WHY_FIGURES = ("breakdown", "why")  # shown in the "why" section, the others under Plots


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates cached by jinja2 in a private temporary folder (compiling the report
    template costs most of a render); None where jinja2 cannot make that folder."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


def _withheld(a: Analysis) -> str:
    """Why no comparison carries the headline: unreliable, not_comparable, or none."""
    verdicts = {c.verdict for c in a.comparisons}
    return next((v for v in ("unreliable", "not_comparable") if v in verdicts), "none")


def environment() -> jinja2.Environment:
    """Jinja2 over harness/presentation/templates, autoescaping the HTML templates."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.presentation", "templates"),
        bytecode_cache=_bytecode_cache(),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=formats.num,
        pct=formats.pct,
        sci=formats.sci,
        cell=formats.cell,
        p=formats.p_value,
        ratio=formats.ratio,
        code=formats.code,
    )
    return env


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def figures(run_dir: Path) -> list[dict[str, Any]]:
    """The figures listed in plots/figures.json whose PNG exists, as data: URIs."""
    manifest = read_optional_json(run_dir / "plots" / "figures.json") or {}
    out = []
    for figure in manifest.get("figures") or []:
        name = str(figure.get("name"))
        png = run_dir / "plots" / f"{name}.png"
        if name not in wording.FIGURES or not png.is_file():
            continue
        data = png.read_bytes()
        width, height = _png_size(data)
        svg = png.with_suffix(".svg")
        title, caption = wording.FIGURES[name]
        out.append(
            {
                "name": name,
                "title": title,
                "caption": caption,
                "data_uri": "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
                "width": width,
                "height": height,
                "svg": f"plots/{svg.name}" if svg.is_file() else None,
            }
        )
    return out


def _command_text(command: Any) -> str | None:
    """An argv list shell-quoted, ready to paste, or a command string as it is.

    Folders made before 0.1.1 stored the harness as one item, `python -m harness`: split it.
    """
    if isinstance(command, list):
        words = [str(c) for c in command]
        if words and words[0] == "python -m harness":
            words = [*words[0].split(), *words[1:]]
        return shlex.join(words)
    return str(command) if command else None


def _manifest_facts(folder: Folder) -> tuple[str | None, list[tuple[str, str]], list[str]]:
    """The harness command line, each contender's command (run.json, else contenders.csv)
    and prepare's notes (contenders asked for and not run)."""
    commands: list[tuple[str, str]] = []
    command, notes = None, []
    if folder.has_manifest:
        manifest = folder.manifest
        command = _command_text(manifest.command_line)
        notes = list(manifest.notes)
        commands = [(c.name, _command_text(c.argv) or "") for c in manifest.contenders]
        for f in manifest.contenders_files:  # every file that added contenders, named
            notes.append(
                f"contenders {', '.join(f.get('contenders') or [])} came from {f.get('path')} "
                f"(sha256 {str(f.get('sha256'))[:12]}), not from the harness"
            )
    table = folder.path / "tables" / "contenders.csv"
    if not commands and table.is_file():
        with table.open(encoding="utf-8", newline="") as stream:
            rows = csv.DictReader(stream)
            commands = [(r["contender"], r.get("command") or "") for r in rows]
    return command, commands, notes


def raw_files(run_dir: Path) -> list[str]:
    """Relative links to the stored raw data that exists."""
    seen: list[str] = []
    for pattern in RAW_PATTERNS:
        for path in sorted(run_dir.glob(pattern)):
            rel = path.relative_to(run_dir).as_posix()
            if path.is_file() and rel not in seen:
                seen.append(rel)
    return seen


@dataclass(frozen=True)
class Row:
    """One contender's summary (analysis.json) with what the report adds to it: its label,
    its like-for-like comparison, whether it is a reference, its warnings in words. Reading a
    field the row lacks reads the summary's (`row.wall` is `row.summary.wall`), so the
    template and summary_markdown read the same objects."""

    summary: ContenderSummary
    label: str
    cmp: Judged | None
    is_reference: bool
    warning_text: list[str]

    def __getattr__(self, name: str) -> Any:
        if name == "summary":  # not set yet (copying): no summary to read from
            raise AttributeError(name)
        return getattr(self.summary, name)


@dataclass(frozen=True)
class Worded:
    """A comparison (analysis.json) with its sentence; other fields read the comparison's."""

    comparison: Comparison
    sentence: str

    def __getattr__(self, name: str) -> Any:
        if name == "comparison":
            raise AttributeError(name)
        return getattr(self.comparison, name)


def context(where: Folder | Path) -> dict[str, Any]:
    """Everything the templates show: analysis.json's numbers (harness.model.analysis objects)
    and their words; report.html and summary.md are both rendered from it."""
    folder = Folder.of(where)
    run_dir, a = folder.path, folder.analysis
    comparisons = {c.contender: c for c in a.comparisons}
    rows = []
    for s in a.contenders:
        cmp = comparisons.get(s.name)
        is_reference = cmp is None and (
            s.name == a.reference or any(c.reference == s.name for c in a.comparisons)
        )
        warnings = [wording.warning(w) for w in s.warnings]
        rows.append(Row(s, wording.label(s.name, s.threads), cmp, is_reference, warnings))
    seeds = sorted(
        {p.seed for c in a.comparisons for p in c.per_seed},
        key=lambda s: (0, int(s)) if s.isdigit() else (1, s),
    )
    sweep_rows = a.target_sweep.rows
    sweep = [
        (r.name, [_sweep_cell(sweep_rows, r.name, t) for t in a.target_sweep.targets])
        for r in rows
        if any(x.contender == r.name for x in sweep_rows)
    ]
    title = "MLP training benchmark" + (f": {a.dataset}" if a.dataset else "")
    if a.target is not None:
        title += f", time to {100 * float(a.target):g} % test accuracy"
    headline_cmp = comparisons.get(a.headline) if a.headline else None
    command, commands, notes = _manifest_facts(folder)
    env = wording_env.env_groups(folder.env)
    all_figures = figures(run_dir)
    return {
        "title": title,
        "a": a,
        "w": wording,
        "headline": wording.headline(a),
        "headline_verdict": headline_cmp.verdict if headline_cmp else _withheld(a),
        "warning_groups": _warning_groups(rows),
        "notes": notes,
        "why": wording.why(headline_cmp, a) if headline_cmp else None,
        "sentences": [wording.comparison(c, a) for c in a.comparisons],
        "cross": [Worded(c, wording.comparison(c, a)) for c in a.cross_thread],
        "method": wording.method(a),
        "precision": wording.precision(a),
        "noise_lines": wording.noise(a),
        "floor_notes": wording.floor_notes(a),
        "labels": wording.labels(a),
        "grids": [wording_grid.grid(g, a) for g in a.grid],
        "decomposition": wording_decompose.section(a, folder.env),
        "rows": rows,
        "names": [r.name for r in rows],
        "failed": [r for r in rows if r.status not in ("ok", "invalid")],
        "invalid": [(r.name, i) for r in rows for i in r.invalid],
        "seeds": seeds,
        "per_seed": [c for c in a.comparisons if c.per_seed],
        "sweep": sweep,
        "why_figures": [f for f in all_figures if f["name"] in WHY_FIGURES],
        "figures": [f for f in all_figures if f["name"] not in WHY_FIGURES],
        "mismatch": {
            s.seed: wording.mismatch(s.cause) for s in a.fairness.seeds if s.mismatch and s.cause
        },
        "evaluator_disagreements": sum(1 for r in a.fairness.evaluator if r.agrees is False),
        "env_groups": env,
        "env_gist": wording_env.gist(env),
        "command": command,
        "commands": commands,
        "raw_files": raw_files(run_dir),
        "version": __version__,
    }


def _warning_groups(rows: list[Row]) -> list[tuple[str, list[str]]]:
    """Each statistics note once, with the contenders it applies to (`a, b: only 6 runs`)."""
    groups: dict[str, list[str]] = {}
    for r in rows:
        for text in r.warning_text:
            groups.setdefault(text, []).append(r.name)
    return list(groups.items())


def _sweep_cell(rows: list[SweepRow], name: str, target: float) -> SweepRow | None:
    return next((r for r in rows if r.contender == name and r.target == target), None)


def summary_markdown(ctx: dict[str, Any]) -> str:
    """summary.md: the headline, the like-for-like table, cross-thread ratios, for terminals."""
    a: Analysis = ctx["a"]
    md, num = formats.md, formats.num
    lines = [f"# {md(ctx['title'])}", "", f"**{md(ctx['headline'])}**", ""]
    if ctx["why"]:
        lines += [md(ctx["why"]), ""]
    if len(ctx["sentences"]) > 1:
        lines += [f"- {md(s)}" for s in ctx["sentences"]] + [""]
    for extra in [ctx["precision"], *ctx["noise_lines"]]:
        if extra:
            lines += [md(extra), ""]
    head = ["contender", "threads", "status", "runs", "success", "median s (95 % CI)"]
    head += ["speed-up vs same-thread reference (95 % CI)", "verdict", "p"]
    if a.has_metrics:
        head += ["epochs", "s/epoch", "GFLOP/s", "of sgemm"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for r in ctx["rows"]:
        wall, cmp = r.wall, r.cmp
        speed, verdict, p = (wording.NO_PEER if not cmp else "n/a"), "", ""
        if r.is_reference:
            speed = "reference"
        elif cmp and cmp.ratio is not None:
            ratio = formats.ratio
            ci = f" ({ratio(cmp.ci_low)}-{ratio(cmp.ci_high)})" if cmp.ci_low else ""
            speed = f"{ratio(cmp.ratio)}x vs {md(cmp.reference)}{ci}"
            verdict, p = formats.code(cmp.verdict), formats.p_value(cmp.p_value)
        cells = [md(r.name), num(r.threads), formats.code(r.status), str(r.runs)]
        cells += [formats.pct(r.success_rate)]
        cells += [f"{num(wall.median)} ({num(wall.ci_low)}-{num(wall.ci_high)})"]
        cells += [speed, verdict, p]
        if a.has_metrics:
            cells += [num(r.epochs_median), num(r.seconds_per_epoch.median)]
            cells += [num(r.train_gflops, 3), formats.pct(r.sgemm_fraction)]
        lines.append("| " + " | ".join(cells) + " |")
    for g in ctx["grids"]:
        lines += ["", *grid_markdown(g)]
    lines += wording_decompose.markdown(ctx["decomposition"])
    if ctx["cross"]:
        lines += ["", "Cross-thread ratios (unequal resources, not like for like):", ""]
        lines += [f"- {md(c.sentence)}" for c in ctx["cross"]]
    if ctx["invalid"]:
        lines += ["", "Invalid runs (left out of the statistics):", ""]
        lines += [
            f"- {md(name)}, seed {md(i.seed)}, run {num(i.run_index)}: {md(i.problem)}"
            for name, i in ctx["invalid"]
        ]
    lines += ["", md(ctx["method"]), ""]
    return "\n".join(lines)


def grid_markdown(g: dict[str, Any]) -> list[str]:
    """One 2x2 (wording_grid.grid) as a Markdown table and its sentences."""
    md = formats.md
    head = ["", *g["approaches"], "framework vs from-scratch"]
    lines = [f"Language or library, {md(g['title'].lower())}:", ""]
    lines += ["| " + " | ".join(head) + " |", "|---|" + "---|" * (len(head) - 1)]
    for row in g["rows"]:
        cells = [md(row["language"])] + [md(", ".join(c)) for c in row["cells"]]
        lines.append("| " + " | ".join([*cells, md("; ".join(row["library"]))]) + " |")
    for row in g["ratio_rows"]:
        cells = [md(row["label"]), *(md("; ".join(c)) for c in row["cells"]), ""]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""] + [f"- {md(s)}" for s in [*g["sentences"], *g["answers"]]]


def render(where: Folder | Path) -> Path:
    """Write report.html and summary.md from the folder's Analysis, plots/ and raw files."""
    folder = Folder.of(where)
    run_dir = folder.path
    ctx = context(folder)
    no_links(run_dir / "summary.md").write_text(summary_markdown(ctx), encoding="utf-8")
    ctx["raw_files"] = raw_files(run_dir)
    out = run_dir / "report.html"
    no_links(out).write_text(
        environment().get_template("report.html.j2").render(ctx), encoding="utf-8"
    )
    return out
