"""Kernel or language: Rust's speed-up over NumPy split into two factors that multiply to it.

At each thread count where three contenders ran with the main reference's algorithm,

    reference  python-numpy      the Python step on NumPy's OpenBLAS
    twin       rust-numpy-blas   the Rust step on that very OpenBLAS file (mlp --blas-library)
    native     rust              the Rust step on its own kernels (the gemm crate, matrixmultiply)

the whole speed-up is the product of a language factor and a kernel factor:

    t(reference) / t(native)  =  t(reference) / t(twin)  x  t(twin) / t(native)
           total                    language                    kernel

(language: same kernels, different code around them; kernel: same Rust code, different
kernels). Each factor is a paired ratio with its t-interval (harness.analysis.stats), over the whole
process and per training epoch, computed on the *same* pairs: runs of the three that share a
seed and a measuring round (pairing's keys), so the mean log-ratios add up exactly and
total = language x kernel holds for the point estimates. The CIs do not multiply (each factor's
spread is its own).

`TWINS` names which implementation runs another's kernels, and whose own kernels it stands in
for: {"rust-numpy-blas": "rust"}.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import stats

TWINS = {"rust-numpy-blas": "rust"}  # twin implementation -> native implementation
KEYS = (("seed", "round"), ("seed", "run_index"))  # pairing keys, as harness.analysis.pairing.pair
COLUMNS = {"whole": "wall_seconds", "per_epoch": "seconds_per_epoch"}


def _first(summaries: dict[str, dict], implementation: str, algorithm: Any) -> dict[Any, str]:
    """threads -> the first contender of this implementation and algorithm."""
    out: dict[Any, str] = {}
    for name, s in summaries.items():
        if s.get("implementation") == implementation and s.get("algorithm") == algorithm:
            out.setdefault(s.get("threads"), name)
    return out


def joined(frames: list[pd.DataFrame], column: str) -> tuple[np.ndarray, str]:
    """(n x 3) times of the same pairs of the three contenders, by (seed, round), else (seed,
    run_index); an empty array when neither key pairs at least two rows."""
    for keys in KEYS:
        usable = [f[(f["seed"] != "") & f[keys[1]].notna()] for f in frames]
        if any(f.empty or f.duplicated(list(keys)).any() for f in usable):
            continue
        merged = usable[0][[*keys, column]]
        for i, f in enumerate(usable[1:], start=1):
            merged = merged.merge(f[[*keys, column]], on=list(keys), suffixes=("", f"_{i}"))
        times = merged[[column, f"{column}_1", f"{column}_2"]].to_numpy(float)
        times = times[np.isfinite(times).all(axis=1) & (times > 0).all(axis=1)]
        if len(times) >= 2:
            return times, "+".join(keys)
    return np.empty((0, 3)), "none"


def factors(times: np.ndarray, cfg: Any) -> dict[str, Any]:
    """total, language and kernel ratios (paired log-mean tests) of (reference, twin, native)
    times, one row per pair."""
    logs = np.log(times)
    ref, twin, native = logs[:, 0], logs[:, 1], logs[:, 2]
    return {
        "total": asdict(stats.log_mean_test(ref - native, cfg)),
        "language": asdict(stats.log_mean_test(ref - twin, cfg)),
        "kernel": asdict(stats.log_mean_test(twin - native, cfg)),
        "n": len(times),
    }


def decompositions(
    summaries: dict[str, dict[str, Any]],
    ok: dict[str, pd.DataFrame],
    main: str | None,
    cfg: Any,
) -> list[dict[str, Any]]:
    """One decomposition per thread count where the reference, a twin and its native ran."""
    if main is None or main not in summaries:
        return []
    algorithm = summaries[main].get("algorithm")
    refs = _first(summaries, summaries[main].get("implementation"), algorithm)
    out = []
    for twin_impl, native_impl in TWINS.items():
        twins, natives = (
            _first(summaries, twin_impl, algorithm),
            _first(summaries, native_impl, algorithm),
        )
        for threads in sorted(set(refs) & set(twins) & set(natives), key=lambda t: t or 0):
            names = [refs[threads], twins[threads], natives[threads]]
            if not all(name in ok and not ok[name].empty for name in names):
                continue
            row: dict[str, Any] = {
                "threads": threads,
                "reference": names[0],
                "twin": names[1],
                "native": names[2],
            }
            for scope, column in COLUMNS.items():
                times, pairing = joined([ok[n] for n in names], column)
                row[scope] = factors(times, cfg) if len(times) else None
                row[f"{scope}_pairing"] = pairing
            if row["whole"] is not None:
                out.append(row)
    return out
