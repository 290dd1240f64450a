"""`harness compare A B`: did a contender get faster or slower between two results folders?

Two folders were measured at different times, so whatever slowed or sped up the whole machine
in between (other load, thermal state, a kernel update) sits between them. Each contender is
therefore judged by its speed relative to its reference *measured in the same folder* (its
like-for-like reference, else the main one), where such drift cancels:

    change = ratio_A / ratio_B - 1,   ratio = t_reference / t_contender (harness.analysis.stats)

> 0: the contender got slower relative to its reference. Its CI is Welch's t-interval on the
difference of the two folders' mean paired log-ratios (stats.log_difference_test); the raw
change of the median wall time (drift included) is shown beside it. A change is called only
when its CI excludes 0 *and* it exceeds `threshold`: what two runs of identical code differ
by on the machine (the A/A check in the README). Folders without pairing (no seeds) fall
back to the raw change. Exit status 1 on a regression, or when B has no usable runs for a
contender that A has: "no runs" must not pass a CI gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis import analyze, pairing, reliability, stats
from harness.errors import HarnessError
from harness.model import identity
from harness.model.folder import Folder
from harness.presentation import formats


@dataclass(frozen=True)
class CompareConfig:
    """When a change is called a regression or an improvement."""

    alpha: float = 0.05  # the change's CI is a (1 - alpha) interval
    threshold: float = 0.03  # |change| at or below this is A/A noise on the reference machine
    allow_different: bool = False  # compare folders of different specs or machines anyway


@dataclass(frozen=True)
class Side:
    """One folder: each contender's successful valid runs, its reference, and what it ran."""

    ok: dict[str, Any]
    references: dict[str, str]
    main: str | None
    spec: str | None = None  # the workload (harness.model.identity.spec_key)
    machine: str | None = None  # the machine's fingerprint (harness.model.identity.machine_of)
    withheld: dict[str, str] = field(default_factory=dict)  # name -> why no verdict here


def read_side(run_dir: Path) -> Side:
    """The runs of one results folder, grouped per contender, with their references."""
    if not Path(run_dir).is_dir():
        raise HarnessError(f"{run_dir}: not a results folder (no such directory)")
    folder = Folder(Path(run_dir))
    inputs = analyze.read_inputs(folder, analyze.AnalysisConfig())
    runs = inputs["runs"]
    valid = runs[(runs["status"] != "invalid") & runs["ok"]]
    ok = {name: valid[valid["contender"] == name] for name in inputs["order"]}
    infos = {name: analyze.info(name, inputs) for name in inputs["order"]}
    refs = pairing.references(infos, inputs["reference"])
    main = inputs["reference"]
    own = set(refs.values()) | {main}  # references are never judged against a reference
    refs.update({n: main for n in inputs["order"] if n not in refs and n not in own and main})
    analysis = analyze.build_analysis(folder, inputs=inputs)  # the folder read once
    withheld = {
        c.contender: f"{c.verdict} in {run_dir}"
        for c in analysis.comparisons
        if c.verdict in reliability.NO_VERDICT
    }
    spec = folder.spec if (folder.path / "spec.json").is_file() else None
    machine = identity.machine_of(folder.env)["fingerprint"] if folder.env else None
    return Side(ok, refs, main, identity.spec_key(spec) if spec else None, machine, withheld)


def check_comparable(a: Side, b: Side, dir_a: Path, dir_b: Path, cfg: CompareConfig) -> None:
    """Refuse folders of different specs or machines unless asked (--allow-different)."""
    if cfg.allow_different:
        return
    for what, x, y in (("spec", a.spec, b.spec), ("machine", a.machine, b.machine)):
        if x and y and x != y:
            raise HarnessError(
                f"{dir_a} and {dir_b} ran on different {what}s ({x[:12]} vs {y[:12]}): a "
                "change between them is not the code's; compare refuses them (pass "
                "--allow-different to compare anyway)"
            )


def _log_ratios(side: Side, name: str) -> np.ndarray | None:
    """Paired ln(t_reference / t_contender) of one folder; None when runs do not pair."""
    ref = side.references.get(name)
    if ref is None or side.ok[ref].empty:
        return None
    a, b, how = pairing.pair(side.ok[ref], side.ok[name], "wall_seconds")
    if how == "independent":
        return None
    keep = (a > 0) & (b > 0)
    return np.log(a[keep] / b[keep])


def compare_contender(a: Side, b: Side, name: str, cfg: CompareConfig) -> dict[str, Any]:
    """One contender's change from A to B: relative to its reference, and raw."""
    scfg = stats.StatsConfig(alpha=cfg.alpha)
    wall_a = stats.finite(a.ok[name]["wall_seconds"])
    wall_b = stats.finite(b.ok[name]["wall_seconds"]) if name in b.ok else np.array([])
    row: dict[str, Any] = {"contender": name, "reference": a.references.get(name)}
    if name in a.withheld or name in b.withheld:
        why = "; ".join(w for w in (a.withheld.get(name), b.withheld.get(name)) if w)
        return {**row, "raw": None, "verdict": f"unknown ({why})", "test": None}
    row["raw"] = (
        float(np.median(wall_b) / np.median(wall_a) - 1) if wall_a.size and wall_b.size else None
    )
    if not wall_b.size:
        return {**row, "verdict": "NO RUNS in B" if wall_a.size else "no runs", "test": None}
    d_a, d_b = _log_ratios(a, name), _log_ratios(b, name)
    if (
        name == a.main
        or d_a is None
        or d_b is None
        or a.references.get(name) != b.references.get(name)
    ):
        # No same-folder reference to cancel drift: the raw change, tested on log times.
        test = stats.log_difference_test(np.log(wall_b), np.log(wall_a), scfg)
        row["basis"] = "raw"
    else:
        test = stats.log_difference_test(d_a, d_b, scfg, paired=True)
        row["basis"] = "relative"
        row["ratio_a"], row["ratio_b"] = float(np.exp(d_a.mean())), float(np.exp(d_b.mean()))
    row["test"] = test
    if name == a.main or name in set(a.references.values()):
        return {**row, "verdict": "reference (raw: drift included)"}
    if test.ratio is None or test.ci_low is None:
        return {**row, "verdict": "too few runs"}
    change = test.ratio - 1
    if test.ci_low > 1 and change > cfg.threshold:
        verdict = "REGRESSION"
    elif test.ci_high < 1 and change < -cfg.threshold:
        verdict = "improvement"
    elif test.ci_low > 1 or test.ci_high < 1:
        verdict = "within A/A noise"
    else:
        verdict = "no significant change"
    return {**row, "verdict": verdict}


def _cells(r: dict[str, Any]) -> tuple[str, ...]:
    """One text row of the table."""
    t = r.get("test")
    change = ci = p = ""
    if t is not None and t.ratio is not None:
        change = f"{100 * (t.ratio - 1):+.1f} %"
        if t.ci_low is not None:
            ci = f"{100 * (t.ci_low - 1):+.1f} .. {100 * (t.ci_high - 1):+.1f} %"
        p = formats.p_value(t.p_value)
    ratios = ""
    if "ratio_a" in r:
        ratios = f"{formats.ratio(r['ratio_a'])} -> {formats.ratio(r['ratio_b'])}"
    raw = f"{100 * r['raw']:+.1f} %" if r.get("raw") is not None else ""
    basis = r.get("basis", "")
    return (
        r["contender"],
        r["reference"] or "",
        ratios,
        f"{change} {basis}".strip(),
        ci,
        p,
        raw,
        r["verdict"],
    )


def compare(dir_a: Path, dir_b: Path, cfg: CompareConfig | None = None) -> tuple[str, int]:
    """Text table of B vs A per contender; exit status 1 on a regression or missing runs."""
    cfg = cfg or CompareConfig()
    a, b = read_side(Path(dir_a)), read_side(Path(dir_b))
    check_comparable(a, b, Path(dir_a), Path(dir_b), cfg)
    rows: list[tuple[str, ...]] = []
    failing = 0
    for name in a.ok:
        r = compare_contender(a, b, name, cfg)
        failing += r["verdict"] in ("REGRESSION", "NO RUNS in B")
        rows.append(_cells(r))
    rows += [(n, "", "", "", "", "", "", "only in B") for n in b.ok if n not in a.ok]
    header = (
        "contender",
        "reference",
        "speed-up A -> B",
        "change",
        "95 % CI",
        "p",
        "raw change",
        "verdict",
    )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [
        "",
        f"A = {dir_a}, B = {dir_b}. change (relative) = the contender's time relative to its "
        "reference measured in the same folder, B vs A (ratio_A / ratio_B - 1): drift of the "
        "whole machine cancels. raw change = median(B) / median(A) - 1, drift included.",
        f"A change is called only when its {100 * (1 - cfg.alpha):g} % CI excludes 0 and it "
        f"exceeds ±{100 * cfg.threshold:g} % (what identical code differs by between two runs: "
        "the A/A check in the README).",
    ]
    if failing:
        lines.append(f"{failing} regression(s) or contender(s) without runs in B.")
    return "\n".join(lines) + "\n", 1 if failing else 0
