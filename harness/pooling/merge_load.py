"""One results folder as `harness merge` sees it: its machine, its workload and its runs.

Everything is read through harness.model.records (run.json, env.json, spec.json),
harness.model.analysis (analysis.json), harness.model.tables / harness.analysis.pairing
(tables/runs.csv) and nothing else. A folder whose
analysis.json is missing or was written by another harness version (a schema-1 folder, say)
is analysed again in a temporary copy (ingest and analyze, as `report --recompute` would), so
merging never writes into an input folder.

- The machine: env.json's hardware and software, as a fingerprint (Machine). Two folders are
  the same machine exactly when every field of it is equal: host, CPU, cores, memory, OS,
  architecture, SIMD, BLAS and its kernel, NumPy, rustc, torch, GPU, harness commit.
- The workload (Workload): spec.json without the machine-local `dataset.dir`, hashed; folders
  with different workloads are never pooled.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.model.analysis import Judged
from harness.model.folder import Folder
from harness.model.identity import spec_key
from harness.model.records import (
    SCHEMA_VERSION,
    read_json,
)

if TYPE_CHECKING:
    import pandas as pd

# OpenBLAS kernel (threadpoolctl's `architecture`) -> the SIMD level it implies, for env.json
# files written before env.json recorded the CPU's own SIMD level.
KERNEL_SIMD = {
    "skylakex": "AVX-512",
    "cooperlake": "AVX-512",
    "sapphirerapids": "AVX-512",
    "haswell": "AVX2",
    "zen": "AVX2",
    "sandybridge": "AVX",
    "bulldozer": "AVX",
    "piledriver": "AVX2",
    "steamroller": "AVX2",
    "excavator": "AVX2",
    "nehalem": "SSE4.2",
    "neoversev1": "SVE",
    "neoversev2": "SVE",
    "neoversen2": "SVE",
    "a64fx": "SVE",
    "armv8sve": "SVE",
    "neoversen1": "NEON",
    "armv8": "NEON",
    "cortexa53": "NEON",
    "cortexa57": "NEON",
    "cortexa72": "NEON",
    "cortexa73": "NEON",
    "thunderx2t99": "NEON",
    "vortex": "NEON",
}
RAW_COPY_IGNORE = ("plots", "report.html", "summary.md", "stages.json")


@dataclass(frozen=True)
class Machine:
    """What a folder's env.json says about the machine and its software (the fingerprint)."""

    host: str
    cpu_model: str
    logical_cores: int | None
    memory_gib: float | None  # to 0.1 GiB: the exact byte count moves by a few KiB per boot
    os: str
    arch: str
    simd: str | None  # widest SIMD: AVX-512, AVX2, NEON, SVE ...
    simd_source: str  # "cpu" (env.json's simd) or "BLAS kernel" (inferred), "" when unknown
    blas: str | None  # library and version: openblas 0.3.31
    blas_kernel: str | None  # the kernel it chose: SkylakeX, Haswell, neoversen1 ...
    numpy: str | None
    rustc: str | None
    torch: str | None
    gpu: str | None
    commit: str | None
    dirty: bool | None


@dataclass(frozen=True)
class Workload:
    """What was measured: the spec without machine-local paths, and its hash (the group key)."""

    key: str  # sha256 of the canonical spec, first 12 hex digits
    dataset: str
    target: float | None
    layers: list[int]
    batch_size: int | None
    learning_rate: float | None
    max_epochs: int | None


@dataclass(frozen=True)
class ContenderInfo:
    """A contender as the folder's analysis.json describes it, with its numbers there."""

    name: str
    threads: int | None
    implementation: str
    algorithm: str
    language: str | None  # Python, Rust ... (declared, else guessed from the implementation)
    successes: int  # successful valid runs
    median_seconds: float | None  # of the successful runs (None without one)
    seconds_per_epoch: float | None  # median
    gflops: float | None  # training GFLOP/s
    sgemm_fraction: float | None  # of this folder's sgemm rate at its threads


@dataclass
class PooledFolder:
    """One results folder, loaded: its machine, workload, like-for-like pairs and runs."""

    path: Path
    machine: Machine
    workload: Workload
    sgemm: dict[int, float]  # threads -> the sgemm GFLOP/s prepare measured
    train_flops: float | None  # training FLOPs per epoch
    contenders: dict[str, ContenderInfo]
    pairs: list[tuple[str, str]]  # (contender, reference) like for like, as analysis.json has
    analysis_ratios: dict[str, Judged]  # contender -> its analysis.json comparison
    recomputed: bool = False  # analysis.json was rebuilt in a temporary copy
    runs: pd.DataFrame | None = field(default=None, repr=False)  # see ok_runs()

    def ok_runs(self) -> pd.DataFrame:
        """The successful valid runs (contender, seed, round, run_index, wall_seconds,
        seconds_per_epoch) of tables/runs.csv, read when first asked for: only machines with
        several folders need them (one folder's numbers are its analysis.json's)."""
        if self.runs is None:
            self.runs = successful_runs(self.path)
        return self.runs


def successful_runs(source: Path) -> pd.DataFrame:
    """tables/runs.csv's successful valid runs, the columns pooling needs (pairing)."""
    from harness.analysis import pairing  # pandas: only for machines that pool (merge)

    runs = pairing.load_runs(source)
    ok = runs[(runs["status"] != "invalid") & runs["ok"]]
    columns = ["contender", "seed", "round", "run_index", "wall_seconds", "seconds_per_epoch"]
    return ok[columns].reset_index(drop=True)


def cpu_short(model: str) -> str:
    """`Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz` -> `Intel Xeon Platinum 8375C`."""
    text = re.sub(r"\((R|TM|tm|r)\)|\bCPU\b|\bProcessor\b|@.*$", " ", model)
    return " ".join(text.split()) or model


def _version(text: Any) -> str | None:
    """`rustc 1.95.0 (59807616e 2026-04-14)` -> `1.95.0`."""
    words = str(text or "").removeprefix("rustc ").split()
    return words[0] if words else None


def language_of(implementation: str, declared: str | None) -> str | None:
    """The declared language, else the implementation's prefix (rust..., python...)."""
    if declared:
        return declared
    for prefix, language in (("rust", "Rust"), ("python", "Python")):
        if implementation.lower().startswith(prefix):
            return language
    return None


def machine(env: dict[str, Any]) -> Machine:
    """The fingerprint from env.json (both the current layout and schema 1's)."""
    numpy = env.get("numpy") if isinstance(env.get("numpy"), dict) else {}
    blas_pools = [b for b in numpy.get("blas") or [] if isinstance(b, dict)]
    first = blas_pools[0] if blas_pools else {}
    blas = " ".join(str(first[k]) for k in ("internal_api", "version") if first.get(k)) or None
    kernel = first.get("architecture") or None
    simd, source = env.get("simd"), "cpu"
    if not simd and kernel:
        simd, source = KERNEL_SIMD.get(str(kernel).lower()), "BLAS kernel"
    git = env.get("git") if isinstance(env.get("git"), dict) else {}
    numpy_version = numpy.get("version") or env.get("numpy_version")
    return Machine(
        host=str(env.get("hostname") or "unknown host"),
        cpu_model=str(env.get("cpu_model") or "unknown CPU"),
        logical_cores=env.get("logical_cores") or env.get("cpu_cores"),
        memory_gib=round(env["memory_bytes"] / 2**30, 1) if env.get("memory_bytes") else None,
        os=str(env.get("os") or ""),
        arch=str(env.get("machine") or ""),
        simd=str(simd) if simd else None,
        simd_source=source if simd else "",
        blas=blas or env.get("blas"),
        blas_kernel=str(kernel) if kernel else None,
        numpy=numpy_version,
        rustc=_version(env.get("rustc") or env.get("rustc_version")),
        torch=env.get("torch"),
        gpu=env.get("cuda"),
        commit=(git.get("commit") or env.get("git_commit") or None),
        dirty=git.get("dirty", env.get("git_dirty")),
    )


def workload(spec: dict[str, Any]) -> Workload:
    """The spec's hash without `dataset.dir` (a path on the machine that ran it)."""
    optimizer = spec.get("optimizer") if isinstance(spec.get("optimizer"), dict) else {}
    dataset = spec.get("dataset") if isinstance(spec.get("dataset"), dict) else {}
    return Workload(
        key=spec_key(spec, digits=12),
        dataset=str(dataset.get("name") or "unknown"),
        target=spec.get("target_accuracy"),
        layers=list(spec.get("layers") or []),
        batch_size=spec.get("batch_size"),
        learning_rate=optimizer.get("learning_rate"),
        max_epochs=spec.get("max_epochs"),
    )


def _analysis_current(run_dir: Path) -> bool:
    """analysis.json and tables/runs.csv are there, written by this harness version."""
    path = run_dir / "analysis.json"
    if not path.is_file() or not (run_dir / "tables" / "runs.csv").is_file():
        return False
    return read_json(path, check_schema=False).get("schema_version") == SCHEMA_VERSION


def _recompute(run_dir: Path, work: Path) -> Path:
    """ingest + analyze in a copy of the folder under `work` (the input stays untouched)."""
    from harness.analysis import analyze, ingest

    copy = work / "folder"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(*RAW_COPY_IGNORE))
    ingest.ingest(copy)
    analyze.analyze(copy)
    return copy


def load(run_dir: Path) -> PooledFolder:
    """Read one results folder; HarnessError (one line, naming the file) when it cannot."""
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: not a directory")
    folder = Folder(run_dir)
    if not folder.has_manifest:
        raise HarnessError(f"{run_dir}: not a results folder (no run.json)")
    if folder.manifest.hyperfine_exports is not None or not (run_dir / "spec.json").is_file():
        raise HarnessError(
            f"{run_dir}: no spec.json (made from hyperfine exports alone): nothing says what "
            "was measured, so it cannot be grouped with other folders"
        )
    if folder.env is None:
        raise HarnessError(f"{run_dir}/env.json: not found; the machine is unknown")
    if _analysis_current(run_dir):
        return _read(folder, folder, recomputed=False)
    with tempfile.TemporaryDirectory(prefix="harness-merge-") as tmp:
        try:
            copy = _recompute(run_dir, Path(tmp))
        except OSError as exc:
            raise HarnessError(f"{run_dir}: cannot copy it to analyse it again: {exc}") from exc
        return _read(folder, Folder(copy), recomputed=True)


def _read(folder: Folder, source: Folder, recomputed: bool) -> PooledFolder:
    """The PooledFolder from `source` (the folder itself, or its re-analysed copy)."""
    analysis, manifest = source.analysis, folder.manifest
    contenders = {}
    for c in analysis.contenders:
        impl = str(c.implementation or "")
        contenders[c.name] = ContenderInfo(
            name=c.name,
            threads=c.threads,
            implementation=impl,
            algorithm=str(c.algorithm or ""),
            language=language_of(impl or c.name, c.language),
            successes=int(c.successes),
            median_seconds=c.wall.median if c.successes else None,
            seconds_per_epoch=c.seconds_per_epoch.median,
            gflops=c.train_gflops,
            sgemm_fraction=c.sgemm_fraction,
        )
    floor = manifest.floor or {}
    sgemm = {int(k): float(v) for k, v in (floor.get("sgemm_gflops") or {}).items() if v}
    return PooledFolder(
        path=folder.path,
        machine=machine(folder.env or {}),
        workload=workload(folder.spec),
        sgemm=sgemm,
        train_flops=floor.get("train_flops_per_epoch"),
        contenders=contenders,
        pairs=[(c.contender, c.reference) for c in analysis.comparisons],
        analysis_ratios={c.contender: c for c in analysis.comparisons},
        recomputed=recomputed,
        runs=successful_runs(source.path) if recomputed else None,  # the copy goes away
    )


def expand(inputs: list[Path]) -> list[Path]:
    """Each input as given, except a folder holding results folders (a results root, such as
    `results/` or one host's folder on shared storage): its results folders, by name (links
    such as `latest` left out, since they repeat one)."""
    out: list[Path] = []
    for path in inputs:
        if path.is_dir() and not (path / "run.json").exists():
            children = sorted(
                p
                for p in path.iterdir()
                if p.is_dir() and not p.is_symlink() and (p / "run.json").exists()
            )
            if children:
                out += children
                continue
        out.append(path)
    return out
