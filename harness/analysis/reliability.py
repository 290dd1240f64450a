"""Whether a verdict can stand: the contender's runs vouched for, and the reference sound.

A like-for-like ratio is a verdict only when both sides can carry one:
- the contender: every timed run passed the harness's checks (harness.analysis.integrity, per run)
  and followed the reference's curve (trajectory). Otherwise its integrity status is
  `invalid` (no run passed) or `not_comparable` (some did not), with each reason and how many
  runs it hit, and its comparisons' verdict is `not_comparable`.
- the reference: its own runs must show a machine that behaved. Its comparisons' verdict is
  `unreliable`, with the reasons, when
    * spread: two runs of one seed differ by more than ReliabilityConfig.spread (the same work
      took 1.5x as long: the machine, not the code);
    * more threads, slower: it ran slower than the same reference at fewer threads by more
      than `slower_margin` (its BLAS threads fought other load);
    * floor: its training ran above `floor_high` or below `floor_low` of the sgemm rate
      prepare measured at its thread count (the floor itself was measured in a slow spell, or
      the machine was starved);
    * busy: other processes used more than `unreliable_share` of a core while measuring;
    * its own runs are not vouched for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis import stats


@dataclass(frozen=True)
class ReliabilityConfig:
    """When a reference's runs are too disturbed to carry a verdict."""

    spread: float = 1.5  # slowest / fastest successful run of one seed
    slower_margin: float = 0.15  # more threads may not be more than 15 % slower than fewer
    floor_high: float = 1.05  # of the sgemm rate: above it, the floor was measured too low
    floor_low: float = 0.10  # below it, the machine starved the reference
    unreliable_share: float = 0.50  # other processes' share of a core while measuring


def integrity(runs: pd.DataFrame, departures: list[dict[str, Any]]) -> dict[str, Any]:
    """One contender's integrity: status and reasons (code, detail, runs) from its runs'
    failed checks and its departures from the reference's curve."""
    reasons: dict[str, dict[str, Any]] = {}
    failed = runs[runs["check"].fillna("") != ""] if "check" in runs else runs.iloc[0:0]
    for code, group in failed.groupby("check", sort=False):
        first = group.iloc[0]
        detail = f"seed {first['seed']}: {first['problem']}" if first["seed"] else first["problem"]
        reasons[str(code)] = {"code": str(code), "detail": detail, "runs": len(group)}
    for d in departures:
        entry = reasons.setdefault(
            d["code"], {"code": d["code"], "detail": f"seed {d['seed']}, {d['detail']}", "runs": 0}
        )
        entry["runs"] += 1
    if not reasons:
        status = "ok"
    elif len(failed) == len(runs):
        status = "invalid"
    else:
        status = "not_comparable"
    return {"status": status, "reasons": list(reasons.values())}


def reference_health(
    name: str,
    summaries: dict[str, dict[str, Any]],
    ok: dict[str, pd.DataFrame],
    noise: dict[str, Any],
    cfg: ReliabilityConfig,
) -> list[dict[str, Any]]:
    """Why the reference `name` cannot carry a verdict (empty: it can), as code and numbers."""
    me = summaries[name]
    reasons: list[dict[str, Any]] = []
    if me.get("integrity", {}).get("status", "ok") != "ok":
        reasons.append({"code": "not_vouched", "detail": me["integrity"]["reasons"][0]["detail"]})
    runs = ok.get(name)
    if runs is not None and not runs.empty:
        for seed, group in runs.groupby("seed"):
            wall = stats.finite(group["wall_seconds"])
            if wall.size >= 2 and wall.min() > 0 and wall.max() / wall.min() > cfg.spread:
                reasons.append(
                    {
                        "code": "spread",
                        "seed": str(seed),
                        "factor": float(wall.max() / wall.min()),
                        "limit": cfg.spread,
                    }
                )
                break
    median = me["wall"]["median"]
    for other in summaries.values():
        same_kind = all(other.get(k) == me.get(k) for k in ("implementation", "algorithm"))
        fewer = (other.get("threads") or 0) < (me.get("threads") or 0)
        theirs = other["wall"]["median"]
        if same_kind and fewer and median and theirs and median > theirs * (1 + cfg.slower_margin):
            reasons.append(
                {
                    "code": "slower_with_more_threads",
                    "other": other["name"],
                    "factor": float(median / theirs),
                }
            )
            break
    fraction = me.get("sgemm_fraction")
    if fraction is not None and not cfg.floor_low <= fraction <= cfg.floor_high:
        reasons.append({"code": "floor", "fraction": float(fraction), "threads": me.get("threads")})
    share = noise.get("other_share")
    if share is not None and share > cfg.unreliable_share:
        reasons.append({"code": "busy", "share": float(share), "limit": cfg.unreliable_share})
    return reasons


NO_VERDICT = ("not_comparable", "unreliable")  # verdicts that a headline is never built on
VERDICTS = ("faster", "slower", "equivalent", "inconclusive")  # the statistics' own verdicts


def reference_kind(summaries: dict[str, dict[str, Any]], main: str | None) -> set[str]:
    """The contenders of the main reference's implementation (any threads, any algorithm):
    the curves every other contender must follow (harness.analysis.trajectory)."""
    if main is None or main not in summaries:
        return set()
    kind = summaries[main].get("implementation")
    return {
        n for n, s in summaries.items() if n == main or (kind and s.get("implementation") == kind)
    }


def judge(
    like: list[dict[str, Any]],
    summaries: dict[str, dict[str, Any]],
    ok: dict[str, pd.DataFrame],
    facts: dict[str, Any],
    cfg: ReliabilityConfig,
) -> None:
    """A like-for-like verdict stands only on vouched-for runs and a sound reference
    (reliability): else `not_comparable` or `unreliable`; the statistics' own verdict
    is kept as `statistical_verdict`."""
    health = {
        ref: reference_health(ref, summaries, ok, facts, cfg)
        for ref in {c["reference"] for c in like}
    }
    for c in like:
        c["statistical_verdict"] = c["verdict"]
        c["reference_health"] = health[c["reference"]]
        if summaries[c["contender"]]["integrity"]["status"] != "ok":
            c["verdict"] = "not_comparable"
        elif c["reference_health"]:
            c["verdict"] = "unreliable"


def withhold(rows: list[dict[str, Any]], like: list[dict[str, Any]]) -> None:
    """Mark each kernel x language decomposition (harness.analysis.decompose) whose twin or native
    contender has no standing verdict: `withheld` lists those verdicts (empty: it stands)."""
    verdicts = {c["contender"]: c["verdict"] for c in like}
    for row in rows:
        found = {verdicts.get(row[k]) for k in ("twin", "native")} & set(NO_VERDICT)
        row["withheld"] = sorted(v for v in found if v)
