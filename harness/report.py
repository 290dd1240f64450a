"""The self-contained HTML report (report.html) and summary.md of a results folder."""

from __future__ import annotations

import base64
import csv
import json
import shlex
import struct
from pathlib import Path
from typing import Any

import jinja2

from harness import __version__
from harness.errors import HarnessError
from harness.records import read_optional_json

# env.json keys go to the first group whose word occurs in the key; the rest under "other".
ENV_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("git", ("git",)),
    ("rust", ("rust", "cargo", "crate", "nalgebra", "gemm")),
    ("python", ("python", "numpy", "blas", "torch", "scipy", "pandas", "threadpool")),
    ("tools", ("hyperfine", "chromium", "tool")),
    ("machine", ("cpu", "core", "memory", "mem", "os", "kernel", "host", "machine", "arch")),
]

RAW_PATTERNS = (
    "run.json",
    "spec.json",
    "env.json",
    "parity.json",
    "hyperfine.json",
    "hyperfine-json/*.json",
    "analysis.json",
    "summary.md",
    "tables/*.csv",
    "metrics/**/*.jsonl",
    "stderr/**/*.txt",
    "plots/*.svg",
)


def _num(value: Any, digits: int = 4) -> str:
    """A number with `digits` significant digits (large ones whole, with commas); n/a if missing."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    number = float(value)
    if abs(number) >= 10 ** (digits - 1):
        return f"{number:,.0f}"
    return f"{number:.{digits}g}"


def _pct(value: Any) -> str:
    """A fraction as a percentage."""
    return "n/a" if value is None else f"{100 * float(value):.0f} %"


def _sci(value: Any) -> str:
    """A small difference in scientific notation."""
    return "n/a" if value is None else f"{float(value):.2e}"


def _cell(value: Any) -> str:
    """A table cell: booleans as yes/NO, floats compactly, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _p(value: Any) -> str:
    """A p-value: `< 0.001` or three decimals."""
    if value is None:
        return "n/a"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def _md(value: Any) -> str:
    """Escape a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def environment() -> jinja2.Environment:
    """Jinja2 over harness/templates, autoescaping the HTML templates."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_num, pct=_pct, sci=_sci, cell=_cell, md=_md, p=_p)
    return env


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def figures(results_dir: Path) -> list[dict[str, Any]]:
    """The figures listed in plots/figures.json whose PNG exists, as data: URIs."""
    manifest = read_optional_json(results_dir / "plots" / "figures.json") or {}
    out = []
    for figure in manifest.get("figures") or []:
        png = results_dir / "plots" / f"{figure['name']}.png"
        if not png.is_file():
            continue
        data = png.read_bytes()
        width, height = _png_size(data)
        svg = png.with_suffix(".svg")
        out.append(
            {
                "name": figure["name"],
                "title": figure["title"],
                "caption": figure["caption"],
                "data_uri": "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
                "width": width,
                "height": height,
                "svg": f"plots/{svg.name}" if svg.is_file() else None,
            }
        )
    return out


def env_groups(env: dict[str, Any] | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """env.json flattened (a.b keys) and grouped: machine, python, rust, tools, git, other."""
    if not env:
        return []
    flat: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            text = json.dumps(value) if isinstance(value, list | bool) or value is None else value
            flat.append((prefix, str(text)))

    walk("", {k: v for k, v in env.items() if k != "schema_version"})
    groups: dict[str, list[tuple[str, str]]] = {name: [] for name, _ in ENV_GROUPS}
    groups["other"] = []
    for key, value in flat:
        lower = key.lower()
        group = next((g for g, words in ENV_GROUPS if any(w in lower for w in words)), "other")
        groups[group].append((key, value))
    order = ["machine", "python", "rust", "tools", "git", "other"]
    return [(g, groups[g]) for g in order if groups[g]]


def _commands(results_dir: Path, run: dict[str, Any]) -> list[tuple[str, str]]:
    """Each contender's command line: run.json argv, else contenders.csv command."""
    out = []
    for c in run.get("contenders") or []:
        argv = c.get("argv")
        if isinstance(argv, list):
            out.append((str(c.get("name")), shlex.join(str(a) for a in argv)))
        elif argv:
            out.append((str(c.get("name")), str(argv)))
    if out:
        return out
    table = results_dir / "tables" / "contenders.csv"
    if table.is_file():
        with table.open(encoding="utf-8", newline="") as stream:
            out = [(r["contender"], r["command"]) for r in csv.DictReader(stream) if "command" in r]
    return out


def raw_files(results_dir: Path) -> list[str]:
    """Relative links to the stored raw data that exists."""
    seen: list[str] = []
    for pattern in RAW_PATTERNS:
        for path in sorted(results_dir.glob(pattern)):
            rel = path.relative_to(results_dir).as_posix()
            if path.is_file() and rel not in seen:
                seen.append(rel)
    return seen


def context(results_dir: Path) -> dict[str, Any]:
    """Everything the templates show."""
    a = json.loads((results_dir / "analysis.json").read_text(encoding="utf-8"))
    run = read_optional_json(results_dir / "run.json") or {}
    comparisons = {c["contender"]: c for c in a["comparisons"]}
    rows = []
    for s in a["contenders"]:
        row = dict(s)
        row["cmp"] = comparisons.get(s["name"])
        row["max_rss_mib"] = s["max_rss_median"] / 2**20 if s.get("max_rss_median") else None
        rows.append(row)
    seeds = sorted({p["seed"] for c in a["comparisons"] for p in c["per_seed"]}, key=_seed_sort)
    per_seed = [
        {"contender": c["contender"], "ratios": {p["seed"]: p["ratio"] for p in c["per_seed"]}}
        for c in a["comparisons"]
        if c["per_seed"]
    ]
    names = [s["name"] for s in a["contenders"]]
    sweep_rows = a["target_sweep"]["rows"]
    sweep = [
        (
            name,
            [
                next((r for r in sweep_rows if r["contender"] == name and r["target"] == t), None)
                for t in a["target_sweep"]["targets"]
            ],
        )
        for name in names
        if any(r["contender"] == name for r in sweep_rows)
    ]
    dataset = a.get("dataset") or run.get("dataset")
    if isinstance(dataset, dict):
        dataset = dataset.get("name")
    title = "MLP training benchmark" + (f": {dataset}" if dataset else "")
    if a.get("target") is not None:
        title += f", time to {100 * float(a['target']):g} % test accuracy"
    return {
        "title": title,
        "a": a,
        "rows": rows,
        "names": names,
        "failed": [r for r in rows if r["status"] != "ok"],
        "any_paired": any(c.get("paired") for c in a["comparisons"]),
        "seeds": seeds,
        "per_seed": per_seed,
        "sweep": sweep,
        "figures": figures(results_dir),
        "evaluator_disagreements": sum(
            1 for r in a["fairness"]["evaluator"] if r.get("agrees") is False
        ),
        "env_groups": env_groups(read_optional_json(results_dir / "env.json")),
        "command": _command_text(run.get("command") or run.get("command_line")),
        "hyperfine_argv": _command_text(run.get("hyperfine_argv")),
        "parity_rows": parity_rows(a["fairness"].get("parity")),
        "commands": _commands(results_dir, run),
        "raw_files": raw_files(results_dir),
        "version": __version__,
    }


def _command_text(command: Any) -> str | None:
    """An argv list shell-quoted, or a command string as it is."""
    if isinstance(command, list):
        return shlex.join(str(c) for c in command)
    return str(command) if command else None


def parity_rows(parity: dict[str, Any] | None) -> list[dict[str, Any]]:
    """parity.json pairs as flat rows (a, b, tensor, max_abs, max_rel, ok).

    Accepts flat pairs and pairs holding a `tensors` list ({tensor, max_abs, max_rel, passed}).
    """
    rows = []
    for pair in (parity or {}).get("pairs") or []:
        tensors = pair.get("tensors")
        for t in tensors if isinstance(tensors, list) else [pair]:
            ok = t.get("ok", t.get("passed"))
            rows.append(
                {
                    "a": pair.get("a"),
                    "b": pair.get("b"),
                    "tensor": t.get("tensor"),
                    "max_abs": t.get("max_abs"),
                    "max_rel": t.get("max_rel"),
                    "ok": bool(ok),
                    "note": t.get("note", ""),
                }
            )
    return rows


def _seed_sort(seed: str) -> tuple[int, Any]:
    """Numeric seeds in numeric order."""
    return (0, int(seed)) if seed.isdigit() else (1, seed)


def summary_markdown(ctx: dict[str, Any]) -> str:
    """summary.md: the headline and the summary table, for terminals and pull requests."""
    a = ctx["a"]
    metrics = a["has_metrics"]
    head = [
        "contender",
        "status",
        "runs",
        "success",
        "median s (95 % CI)",
        "mean s ± sd",
        f"speed-up vs {a['reference']} (95 % CI)",
        "p",
    ]
    if metrics:
        head += ["epochs", "s/epoch"]
    lines = [f"# {ctx['title']}", "", f"**{a['headline']}**", ""]
    if len(a["comparisons"]) > 1:
        lines += [f"- {c['sentence']}" for c in a["comparisons"]] + [""]
    lines += ["| " + " | ".join(_md(h) for h in head) + " |"]
    lines += ["|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for r in ctx["rows"]:
        wall, cmp = r["wall"], r["cmp"]
        if r["name"] == a["reference"]:
            speed, p = "reference", ""
        elif cmp and cmp.get("ratio") is not None:
            speed = f"{_num(cmp['ratio'], 3)}x ({_num(cmp['ci_low'], 3)}-{_num(cmp['ci_high'], 3)})"
            p = _p(cmp.get("p_value"))
        else:
            speed, p = "n/a", ""
        cells = [
            _md(r["name"]),
            r["status"],
            str(r["runs"]),
            _pct(r["success_rate"]),
            f"{_num(wall['median'])} ({_num(wall['ci_low'])}-{_num(wall['ci_high'])})",
            f"{_num(wall['mean'])} ± {_num(wall['stddev'])}",
            speed,
            p,
        ]
        if metrics:
            cells += [_num(r["epochs_median"]), _num(r["seconds_per_epoch"]["median"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Claims need a significant rank test (alpha = {a['config']['alpha']}); speed-up = "
        f"median time of {a['reference']} / median time of the contender.",
        "",
    ]
    return "\n".join(lines)


def render(results_dir: Path) -> Path:
    """Write report.html and summary.md from analysis.json, plots/ and the raw files."""
    results_dir = Path(results_dir)
    if not (results_dir / "analysis.json").is_file():
        raise HarnessError(
            f"{results_dir / 'analysis.json'}: not found; `python -m harness report "
            f"{results_dir}` runs the stages before the report"
        )
    env = environment()
    ctx = context(results_dir)
    (results_dir / "summary.md").write_text(summary_markdown(ctx), encoding="utf-8")
    ctx["raw_files"] = raw_files(results_dir)
    out = results_dir / "report.html"
    out.write_text(env.get_template("report.html.j2").render(ctx), encoding="utf-8")
    return out
