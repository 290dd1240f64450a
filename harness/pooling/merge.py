"""`harness merge`: many results folders -> one cross-machine result (numbers and names only).

The rules, in the order they apply (README "On many machines" says the same in prose):

1. Folders group by workload (merge_load.Workload: the spec without its machine-local
   dataset path, hashed). Nothing is pooled or compared across groups; the page lists them.
2. Within a group, folders pool when their machine fingerprint (merge_load.Machine: host,
   hardware, OS, NumPy + BLAS + kernel, rustc, torch, harness commit) is identical: the same
   machine with the same software. Any difference makes another row, side by side.
3. Pooled pairs stay within their folder: a run pairs only with the runs of its own folder
   (same seed and round, pairing). A machine's ratio is the geometric mean of all its
   folders' paired ratios and its CI the t-interval over all of them (stats, the same
   rule as one folder's); each folder's own ratio is kept beside it, so a shift between
   folders shows. With one folder, every number equals that folder's analysis.json.
4. Per machine and contender: the median wall time and seconds per epoch of the pooled
   successful runs; GFLOP/s = training FLOPs per epoch / that median; its fraction of the
   machine's sgemm rate at the contender's thread count (the median over its folders of the
   rate prepare measured): the number that makes machines comparable.
5. The answer (per group): a machine counts as "Rust faster" when every Rust-vs-Python
   like-for-like pair on it is `faster`, "slower" when every one is `slower`, else mixed. Its
   score is the geometric mean of those ratios. The upper half by score (at least one
   machine) is compared with the rest on each trait in TRAITS; a trait value held by every
   machine of the upper half and by none of the rest is what "the fastest machines have in
   common". With fewer than two machines nothing is compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import HarnessError
from harness.pooling.merge_load import Machine, PooledFolder, Workload, expand, load
from harness.pooling.merge_machines import Answer, answer, labels

if TYPE_CHECKING:
    from harness.model.evidence import RatioTest

# stats (scipy) and pairing (pandas) are imported where a machine pools
# several folders: a merge of one folder per machine needs neither (a second less to start).


@dataclass(frozen=True)
class MergeConfig:
    """The statistics of pooled machines (those of one folder's, harness.analysis.stats)."""

    alpha: float = 0.05  # the CIs are (1 - alpha) intervals, as harness.analysis.stats.StatsConfig


@dataclass(frozen=True)
class GroupMachine:
    """One machine within a group: its folders and its sgemm rate per thread count."""

    label: str
    folders: list[str]
    sgemm: dict[int, float]  # median over its folders of prepare's measured rate


@dataclass(frozen=True)
class ContenderResult:
    """One contender on one machine, pooled over the machine's folders."""

    machine: str
    contender: str
    threads: int | None
    implementation: str
    algorithm: str
    language: str | None
    runs: int  # successful valid runs pooled
    median_seconds: float | None
    seconds_per_epoch: float | None
    gflops: float | None
    sgemm_fraction: float | None


@dataclass(frozen=True)
class PairResult:
    """A like-for-like pair on one machine: t(reference) / t(contender), pooled (rule 3)."""

    machine: str
    contender: str
    reference: str
    threads: int | None
    language: str | None
    reference_language: str | None
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str | None
    n: int  # pairs of runs (or the smaller sample when the runs do not pair)
    paired: bool
    folders: int
    folder_ratios: list[float]  # each folder's own ratio (its analysis.json), for the spread
    gflops: float | None
    reference_gflops: float | None
    sgemm_fraction: float | None
    reference_sgemm_fraction: float | None


@dataclass(frozen=True)
class ScalingLine:
    """Median wall time against threads, one implementation on one machine."""

    machine: str
    implementation: str
    algorithm: str
    cores: int | None
    points: list[tuple[int, float]]  # (threads, median seconds)


@dataclass(frozen=True)
class Group:
    """The folders of one workload, merged."""

    workload: Workload
    machines: list[GroupMachine]
    contenders: list[ContenderResult]
    pairs: list[PairResult]
    scaling: list[ScalingLine]
    answer: Answer


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class Merged:
    """Everything `harness merge` shows: machines by label, groups, what was skipped."""

    machines: dict[str, Machine]
    groups: list[Group]
    skipped: list[Skipped]
    recomputed: list[str]  # folders whose analysis was rebuilt in a temporary copy
    inputs: int  # folders considered (after expanding results roots)


def check_paths(inputs: list[Path], out: Path) -> None:
    """Refuse (one line) an input given twice, or an output folder inside an input."""
    seen: dict[Path, Path] = {}
    target = out.resolve()
    for path in inputs:
        real = path.resolve()
        if real in seen:
            raise HarnessError(f"{path}: given twice (also as {seen[real]}); name each folder once")
        seen[real] = path
        if target == real or real in target.parents:
            raise HarnessError(
                f"--out {out}: inside the input folder {path}; write the merged report elsewhere"
            )


def _contender(
    label: str, name: str, folders: list[PooledFolder], sgemm: dict[int, float]
) -> ContenderResult:
    """Rule 4: one contender's numbers: its folder's (analysis.json) when the machine has
    one folder, else the medians of the pooled runs, GFLOP/s and fraction from them."""
    infos = [f.contenders[name] for f in folders if name in f.contenders]
    info = infos[0]
    if len(folders) == 1:
        median, spe = info.median_seconds, info.seconds_per_epoch
        gflops, fraction, runs = info.gflops, info.sgemm_fraction, info.successes
    else:
        from harness.analysis import stats

        frames = [f.ok_runs() for f in folders]
        mine = [r[r["contender"] == name] for r in frames]
        wall = np.concatenate([stats.finite(r["wall_seconds"]) for r in mine])
        spe = stats.median(np.concatenate([stats.finite(r["seconds_per_epoch"]) for r in mine]))
        median, runs = stats.median(wall), int(wall.size)
        flops = next((f.train_flops for f in folders if f.train_flops), None)
        gflops = float(flops) / spe / 1e9 if flops and spe else None
        rate = sgemm.get(info.threads) if info.threads is not None else None
        fraction = gflops / rate if gflops and rate else None
    return ContenderResult(
        machine=label,
        contender=name,
        threads=info.threads,
        implementation=info.implementation,
        algorithm=info.algorithm,
        language=info.language,
        runs=runs,
        median_seconds=median,
        seconds_per_epoch=spe,
        gflops=gflops,
        sgemm_fraction=fraction,
    )


def pooled_test(
    folders: list[PooledFolder], contender: str, reference: str, alpha: float
) -> RatioTest:
    """Rule 3: paired log-ratios of every folder (pairs within a folder), one t-interval."""
    from harness.analysis import pairing, stats

    cfg = stats.StatsConfig(alpha=alpha)
    logs, independent = [], []
    for f in folders:
        ok = f.ok_runs()
        a, b, how = pairing.pair(
            ok[ok["contender"] == reference], ok[ok["contender"] == contender], "wall_seconds"
        )
        if how == "independent":
            independent.append((a, b))
            continue
        keep = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
        logs.append(np.log(a[keep] / b[keep]))
    if logs:
        return stats.log_mean_test(np.concatenate(logs), cfg)
    if len(independent) == 1:
        return stats.ratio_test(*independent[0], False, cfg)
    return stats.RatioTest(None, None, None, None, None, 0, False)


def _pair(
    label: str, pair: tuple[str, str], folders: list[PooledFolder], by_name, cfg
) -> PairResult:
    name, ref = pair
    mine = [f for f in folders if pair in f.pairs]
    own = [f.analysis_ratios[name] for f in mine]
    keys = ("ratio", "ci_low", "ci_high", "p_value", "verdict", "n", "paired")
    if len(mine) == 1:  # rule 3: one folder's numbers are its analysis.json's
        test: dict[str, Any] = {k: getattr(own[0], k) for k in keys}
    else:
        pooled = pooled_test(mine, name, ref, cfg.alpha)
        test = {k: getattr(pooled, k) for k in keys}
    c, r = by_name[name], by_name[ref]
    return PairResult(
        machine=label,
        contender=name,
        reference=ref,
        threads=c.threads,
        language=c.language,
        reference_language=r.language,
        **test,
        folders=len(mine),
        folder_ratios=[float(o.ratio) for o in own if o.ratio is not None],
        gflops=c.gflops,
        reference_gflops=r.gflops,
        sgemm_fraction=c.sgemm_fraction,
        reference_sgemm_fraction=r.sgemm_fraction,
    )


def _scaling(label: str, cores: int | None, rows: list[ContenderResult]) -> list[ScalingLine]:
    """Implementations (with one algorithm) run at several thread counts on one machine."""
    by_kind: dict[tuple[str, str], dict[int, float]] = {}
    for r in rows:
        if r.implementation and r.threads is not None and r.median_seconds is not None:
            by_kind.setdefault((r.implementation, r.algorithm), {})[r.threads] = r.median_seconds
    return [
        ScalingLine(label, impl, algo, cores, sorted(points.items()))
        for (impl, algo), points in by_kind.items()
        if len(points) > 1
    ]


def merge_group(folders: list[PooledFolder], names: dict[Machine, str], cfg: MergeConfig) -> Group:
    """Rules 2-5 for the folders of one workload."""
    by_machine: dict[Machine, list[PooledFolder]] = {}
    for f in folders:
        by_machine.setdefault(f.machine, []).append(f)
    machines, contenders, pairs, scaling = [], [], [], []
    for m in sorted(by_machine, key=lambda m: names[m]):
        mine, label = by_machine[m], names[m]
        rates: dict[int, list[float]] = {}
        for f in mine:
            for threads, rate in f.sgemm.items():
                rates.setdefault(threads, []).append(rate)
        sgemm = {t: float(np.median(v)) for t, v in sorted(rates.items())}
        machines.append(GroupMachine(label, [str(f.path) for f in mine], sgemm))
        order = list(dict.fromkeys(n for f in mine for n in f.contenders))
        rows = [_contender(label, n, mine, sgemm) for n in order]
        contenders += rows
        by_name = {r.contender: r for r in rows}
        for pair in dict.fromkeys(p for f in mine for p in f.pairs):
            pairs.append(_pair(label, pair, mine, by_name, cfg))
        scaling += _scaling(label, m.logical_cores, rows)
    order = list(dict.fromkeys((p.contender, p.reference) for p in pairs))
    pairs.sort(key=lambda p: order.index((p.contender, p.reference)))
    labelled = {names[m]: m for m in by_machine}
    return Group(folders[0].workload, machines, contenders, pairs, scaling, answer(pairs, labelled))


def merge(
    inputs: list[Path],
    cfg: MergeConfig | None = None,
    log: Callable[[str], None] = lambda _line: None,
) -> Merged:
    """Load every folder (skipping, with its reason, any that cannot be), group and pool."""
    cfg = cfg or MergeConfig()
    folders, skipped, recomputed = [], [], []
    paths = expand(inputs)
    for path in paths:
        try:
            folder = load(path)
        except HarnessError as exc:
            reason = str(exc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            reason = f"{path}: damaged, cannot be read ({type(exc).__name__}: {exc})"
        else:
            folders.append(folder)
            recomputed += [str(path)] if folder.recomputed else []
            continue
        skipped.append(Skipped(str(path), reason))
        log(f"skipped: {reason}")
    names = labels(list(dict.fromkeys(f.machine for f in folders)))
    groups: dict[str, list[PooledFolder]] = {}
    for f in folders:
        groups.setdefault(f.workload.key, []).append(f)
    merged = [merge_group(g, names, cfg) for g in groups.values()]
    merged.sort(key=lambda g: -sum(len(m.folders) for m in g.machines))
    return Merged(
        machines={label: m for m, label in names.items()},
        groups=merged,
        skipped=skipped,
        recomputed=recomputed,
        inputs=len(paths),
    )
