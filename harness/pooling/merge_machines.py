"""Machines across results folders: a short name for each, and what the fastest share.

Used by harness.pooling.merge (rule 5 of its docstring: the one-line answer's numbers).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.pooling.merge_load import Machine, cpu_short

if TYPE_CHECKING:
    from harness.pooling.merge import PairResult


def _vendor(m: Machine) -> str:
    return cpu_short(m.cpu_model).split()[0] if m.cpu_model else ""


# The traits compared between the fastest machines and the rest: (name, how to read it).
TRAITS: tuple[tuple[str, Callable[[Machine], Any]], ...] = (
    ("SIMD", lambda m: m.simd),
    ("BLAS kernel", lambda m: m.blas_kernel),
    ("CPU vendor", _vendor),
    ("architecture", lambda m: m.arch),
    ("logical cores", lambda m: m.logical_cores),
    ("BLAS", lambda m: m.blas),
)


# Fields that tell machines of one host name apart, in the order a label tries them.
DISTINGUISH: tuple[tuple[str, Callable[[Machine], str]], ...] = (
    ("cpu_model", lambda m: cpu_short(m.cpu_model)),
    ("blas_kernel", lambda m: f"{m.blas_kernel} kernel"),
    ("logical_cores", lambda m: f"{m.logical_cores} cores"),
    ("memory_gib", lambda m: f"{m.memory_gib} GiB"),
    ("os", lambda m: m.os),
    ("numpy", lambda m: f"NumPy {m.numpy}"),
    ("blas", lambda m: str(m.blas)),
    ("rustc", lambda m: f"rustc {m.rustc}"),
    ("torch", lambda m: f"torch {m.torch}"),
    ("gpu", lambda m: str(m.gpu)),
    ("commit", lambda m: f"commit {(m.commit or '')[:7]}"),
    ("dirty", lambda m: "dirty" if m.dirty else "clean"),
)


def labels(machines: list[Machine]) -> dict[Machine, str]:
    """A short unique name per machine: its host; where hosts repeat, the host plus, in the
    order of DISTINGUISH, each field that tells more of them apart, until the names are
    unique (`vm (SkylakeX kernel, commit 8e6cf29)`); #n where every field is the same."""
    out = {}
    for host in dict.fromkeys(m.host for m in machines):
        same = [m for m in machines if m.host == host]
        shown: list[Callable[[Machine], str]] = []

        def distinct(fields: list[Callable[[Machine], str]]) -> int:
            return len({tuple(f(m) for f in fields) for m in same})  # noqa: B023

        for _name, show in DISTINGUISH:
            if distinct(shown) == len(same):
                break
            if distinct([*shown, show]) > distinct(shown):  # a field that tells more apart
                shown.append(show)
        for m in same:
            out[m] = f"{host} ({', '.join(f(m) for f in shown)})" if shown else host
    counts, seen = Counter(out.values()), Counter[str]()
    for m in machines:
        if counts[out[m]] > 1:
            seen[out[m]] += 1
            out[m] = f"{out[m]} #{seen[out[m]]}"
    return out


@dataclass(frozen=True)
class Answer:
    """The numbers of the one-line answer (rule 5); the words are merge_report's."""

    machines: int  # machines with at least one Rust-vs-Python pair
    faster: int
    slower: int
    mixed: int
    pairs: int
    ratio_low: float | None
    ratio_high: float | None
    scores: dict[str, float]  # machine -> geometric mean of its Rust-vs-Python ratios
    top: list[str]  # the upper half by score
    traits: list[tuple[str, str]]  # (trait, value) every top machine has and no other has
    compared: bool  # at least two machines, so traits could be compared


def answer(pairs: list[PairResult], machines: dict[str, Machine]) -> Answer:
    """Rule 5, from the Rust-vs-Python pair rows."""
    rust = [
        p
        for p in pairs
        if p.language == "Rust" and p.reference_language == "Python" and p.ratio is not None
    ]
    per: dict[str, list[PairResult]] = {}
    for p in rust:
        per.setdefault(p.machine, []).append(p)
    counts = {"faster": 0, "slower": 0, "mixed": 0}
    scores = {}
    for label, rows in per.items():
        verdicts = {p.verdict for p in rows}
        kind = verdicts.pop() if len(verdicts) == 1 else "mixed"
        counts[kind if kind in counts else "mixed"] += 1
        scores[label] = math.exp(float(np.mean([math.log(p.ratio) for p in rows])))
    ranked = sorted(scores, key=lambda m: -scores[m])
    top = ranked[: max(1, len(ranked) // 2)] if ranked else []
    rest = [m for m in ranked if m not in top]
    traits = []
    for trait, read in TRAITS if rest else ():
        values = {read(machines[m]) for m in top}
        value = next(iter(values))
        if (
            len(values) == 1
            and value not in (None, "")
            and value not in {read(machines[m]) for m in rest}
        ):
            traits.append((trait, str(value)))
    ratios = [p.ratio for p in rust]
    return Answer(
        machines=len(per),
        pairs=len(rust),
        ratio_low=min(ratios) if ratios else None,
        ratio_high=max(ratios) if ratios else None,
        scores=scores,
        top=top,
        traits=traits,
        compared=bool(rest),
        **counts,
    )
