"""Stage 1: check every option, build the Rust binary, then write spec.json, init/, env.json,
run.json (the manifest) and the machine's sgemm floor.

`plan` checks everything a user can get wrong and creates nothing; only then does `run`
create a results folder and `prepare` fill it, so a typo never leaves an empty folder behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.model.hyperfine import find_hyperfine, hyperfine_version
from harness.model.records import ContenderEntry, Manifest, write_json, write_manifest
from harness.preparation import datasets, envinfo, kernels, numpy_blas
from harness.preparation.contenders import (
    REFERENCE,
    RUST_DIR,
    Contender,
    default_names,
    describe_files,
    importable,
    select,
)
from harness.preparation.referee import write_inits

SPEC_TEMPLATE = Path(__file__).parent / "specs" / "mnist-mini.json"
FLOOR_SECONDS_ENV = "HARNESS_FLOOR_SECONDS"
FLOOR_SECONDS = 3.0  # the sgemm floor's measuring time (floor.measure_sgemm's budget)


@dataclass
class RunOptions:
    """What `harness run` was asked to do (the defaults finish in about 2 minutes on 2 cores)."""

    dataset: str = (
        "mnist-mini"  # a name known to harness.preparation.datasets, or any with data_dir
    )
    data_dir: Path | None = None  # a folder with the four IDX files (overrides the name's copy)
    contenders: list[str] = field(default_factory=default_names)  # like for like: 1 and all cores
    contenders_file: Path | None = None  # extra contenders (README: "Add your own contender")
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])  # one shared init per seed
    runs: int = 2  # timed rounds; each runs every (contender, seed) once, shuffled
    warmup: int = 1  # untimed rounds before those: each contender once, on the first seed
    threads: list[int] | None = None  # threads of the parallel contenders (a list sweeps)
    target: float | None = None  # test accuracy to reach; None: the dataset's default
    max_epochs: int | None = None  # None: the spec template's 50
    out: Path = Path("results")  # the results root
    quiet: bool = False  # one line per stage unless set
    skip_parity: bool = False  # skip the K-step parity check before timing
    parity_steps: int = 3  # K of that check: cheap, yet catches a wrong contender
    cpus: list[int] | None = None  # pin the contenders to these CPUs
    precision: float | None = None  # add rounds until every ratio's CI is within ±precision
    max_time: float | None = None  # seconds of measuring at most (with precision)
    shuffle_seed: int | None = None  # the rounds' order; None: drawn and recorded
    timeout: float | None = (
        None  # seconds a process may run; None: derived (harness.measurement.measure)
    )


@dataclass(frozen=True)
class Plan:
    """Everything `run` needs, checked before anything is created."""

    options: RunOptions
    contenders: list[Contender]
    notes: list[str]
    data_dir: Path
    target: float
    hyperfine: Path
    hyperfine_version: str


def plan(options: RunOptions) -> Plan:
    """Check every option (HarnessError naming the first bad one); build the Rust binaries."""
    contenders, notes = choose_contenders(options)
    target = resolve_target(options)
    if options.precision is not None and not 0 < options.precision < 1:
        raise HarnessError(f"--precision: expected a fraction in (0, 1), got {options.precision}")
    if options.max_time is not None and options.precision is None:
        raise HarnessError("--max-time: only with --precision (it bounds the added rounds)")
    for flag, value in (("--max-time", options.max_time), ("--timeout", options.timeout)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise HarnessError(f"{flag}: expected a finite number of seconds > 0, got {value}")
    check_cpus(options.cpus, contenders)
    floor_budget()  # a bad HARNESS_FLOOR_SECONDS is refused before the folder exists
    try:
        str(options.out).encode("utf-8")
    except UnicodeEncodeError:
        raise HarnessError(
            f"--out: {str(options.out)!r} is not valid UTF-8; results folders are named in "
            "UTF-8 (the report and JSON files record the path)"
        ) from None
    data_dir = datasets.resolve(options.dataset, options.data_dir)
    hyperfine = find_hyperfine()
    version = hyperfine_version(hyperfine)
    build_rust(contenders, options.quiet)
    for c in contenders:
        if "--blas-library" in c.program:
            numpy_blas.check(c.program, SPEC_TEMPLATE)
    return Plan(options, contenders, notes, data_dir, target, hyperfine, version)


def check_cpus(cpus: list[int] | None, contenders: list[Contender]) -> None:
    """--cpus must leave every contender as many CPUs as it declares threads."""
    if cpus is None:
        return
    short = [c for c in contenders if c.threads > len(cpus)]
    if short:
        c = max(short, key=lambda c: c.threads)
        raise HarnessError(
            f"--cpus: {len(cpus)} CPU(s) given, but {c.name} runs {c.threads} threads; give at "
            f"least {c.threads} CPUs or run fewer threads (--threads {len(cpus)})"
        )


def build_rust(contenders: list[Contender], quiet: bool) -> None:
    """`cargo build --release --locked` in rust_impl/ when a Rust contender is selected."""
    if not any(c.needs_cargo for c in contenders):
        return
    cargo = shutil.which("cargo")
    if cargo is None:
        raise HarnessError(
            "cargo: not found; install Rust (https://rustup.rs or `nix develop`) or leave out "
            "the Rust contenders (e.g. --contenders python-numpy)"
        )
    packages = sorted({f"--package={c.cargo_package}" for c in contenders if c.cargo_package})
    if any(c.needs_cargo and not c.cargo_package for c in contenders) or not packages:
        packages.append("--package=mlp")
    argv = [cargo, "build", "--release", "--locked", *packages, *(["--quiet"] if quiet else [])]
    status = subprocess.run(argv, cwd=RUST_DIR, check=False).returncode
    if status != 0:
        raise HarnessError(
            f"{RUST_DIR}: `{' '.join(argv[1:])}` failed (exit {status}); see cargo's message above"
        )


def make_spec(dataset: str, data_dir: Path, target: float, max_epochs: int | None) -> dict:
    """The spec template with the dataset (absolute dir), target and max_epochs filled in."""
    spec = json.loads(SPEC_TEMPLATE.read_text())
    spec["dataset"] = {"name": dataset, "dir": str(data_dir.resolve())}
    spec["target_accuracy"] = target
    if max_epochs is not None:
        spec["max_epochs"] = max_epochs
    return spec


def write_spec(path: Path, spec: dict) -> None:
    """Write the spec exactly as contenders read it (no schema_version: CONTRACT.md's keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")


def resolve_target(options: RunOptions) -> float:
    """--target, else the dataset's default, else the template's."""
    if options.target is not None:
        if not 0 < options.target <= 1:
            raise HarnessError(f"--target: expected a number in (0, 1], got {options.target}")
        return options.target
    template = json.loads(SPEC_TEMPLATE.read_text())["target_accuracy"]
    return datasets.DEFAULT_TARGET.get(options.dataset, template)


def choose_contenders(options: RunOptions) -> tuple[list[Contender], list[str]]:
    """The selected contenders, minus those whose `requires` does not import (with a note)."""
    chosen = select(options.contenders, options.threads, options.contenders_file)
    notes = []
    for module in sorted({c.requires for c in chosen if c.requires}):
        if importable(module):
            continue
        names = ", ".join(c.name for c in chosen if c.requires == module)
        if module == "cuda":
            notes.append(f"{names} skipped: PyTorch sees no CUDA GPU here")
        elif module == numpy_blas.REQUIREMENT:
            notes.append(f"{names} not available here: {numpy_blas.find().reason}")
        else:
            hint = " (pip install -e '.[torch]')" if module == "torch" else ""
            notes.append(f"{names} skipped: Python module {module} is not installed{hint}")
        chosen = [c for c in chosen if c.requires != module]
    if not chosen:
        raise HarnessError("--contenders: nothing left to run (" + "; ".join(notes) + ")")
    return chosen, notes


def reference_of(contenders: list[Contender]) -> str:
    """The contender ratios are taken against: python-numpy when present, else the first."""
    names = [c.name for c in contenders]
    return REFERENCE if REFERENCE in names else names[0]


def floor_budget() -> float:
    """Seconds the sgemm floor is measured for: FLOOR_SECONDS_ENV, else the default (3 s).

    The test suite sets 0.3 s (tests/conftest.py): dozens of whole runs, each measuring the
    floor, would otherwise spend minutes on it; a benchmark keeps the default.
    """
    raw = os.environ.get(FLOOR_SECONDS_ENV, "").strip()
    if not raw:
        return FLOOR_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0.01 <= seconds <= 600:  # also false for NaN
        raise HarnessError(f"{FLOOR_SECONDS_ENV}={raw!r}: expected seconds from 0.01 to 600")
    return seconds


def sgemm_floor(spec: dict, train_samples: int, test_samples: int, threads: list[int]) -> dict:
    """The machine's sgemm rate on the network's own products, and FLOPs per epoch.

    Measured in a child process: BLAS thread pools started here would stay in the harness,
    and a process that forks (the plot stage's workers) with live BLAS threads can hang.
    """
    from harness.preparation import floor

    layers, batch, budget = list(spec["layers"]), int(spec["batch_size"]), floor_budget()
    code = (
        "import json, sys; from harness.preparation import floor; "
        "a = json.loads(sys.argv[1]); "
        "print(json.dumps(floor.rates_to_json(floor.measure_sgemm(*a))))"
    )
    args = [layers, batch, sorted(set(threads)), budget]
    argv = [sys.executable, "-c", code, json.dumps(args)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=Path(__file__).parents[2])
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[-300:]
        raise HarnessError(f"sgemm floor: measuring NumPy's sgemm rate failed: {said}")
    rates = floor.rates_from_json(json.loads(done.stdout))
    return {
        "train_flops_per_epoch": floor.training_flops(layers, train_samples),
        "eval_flops_per_epoch": floor.eval_flops(layers, test_samples),
        "sgemm_gflops": {str(t): r.gflops for t, r in rates.items()},
        "blas": _blas_name(next(iter(rates.values()))),
        "sgemm": floor.rates_to_json(rates),
        "budget_seconds": budget,
    }


def _blas_name(rate: Any) -> str:
    """`openblas 0.3.31 (SkylakeX)` from one measured rate's BLAS fields."""
    parts = [rate.blas_api or "unknown BLAS", rate.blas_version or ""]
    arch = f" ({rate.blas_architecture})" if rate.blas_architecture else ""
    return " ".join(p for p in parts if p) + arch


def _sample_counts(data_dir: Path) -> tuple[int, int]:
    """Train and test sample counts from the label files' headers (the referee reads them)."""
    from harness.preparation.referee import read_idx

    train = read_idx(data_dir, "train-labels-idx1-ubyte", "labels")
    test = read_idx(data_dir, "t10k-labels-idx1-ubyte", "labels")
    return len(train), len(test)


def prepare(
    p: Plan, run_dir: Path, command_line: list[str], log: Callable[[str], None] = print
) -> Manifest:
    """Fill a new results folder from a checked plan; the manifest written to run.json."""
    options = p.options
    for note in p.notes:
        log(f"note: {note}")
    spec = make_spec(options.dataset, p.data_dir, p.target, options.max_epochs)
    write_spec(run_dir / "spec.json", spec)
    write_inits(run_dir / "init", spec["layers"], options.seeds)
    env = envinfo.capture()
    env["rust_kernels"] = kernels.choose(p.contenders, run_dir / "spec.json")
    write_json(run_dir / "env.json", env)
    train_samples, test_samples = _sample_counts(p.data_dir)
    floor = sgemm_floor(spec, train_samples, test_samples, [c.threads for c in p.contenders])
    shuffle_seed = options.shuffle_seed
    if shuffle_seed is None:
        shuffle_seed = random.SystemRandom().randrange(2**31)
    manifest = Manifest(
        contenders=[ContenderEntry(**c.describe(run_dir)) for c in p.contenders],
        reference=reference_of(p.contenders),
        command_line=command_line,
        dataset=spec["dataset"],
        target=p.target,
        spec_sha256=hashlib.sha256((run_dir / "spec.json").read_bytes()).hexdigest(),
        max_epochs=spec["max_epochs"],
        seeds=options.seeds,
        runs=options.runs,
        warmup=options.warmup,
        notes=p.notes,
        hyperfine={"path": str(p.hyperfine), "version": p.hyperfine_version},
        parity_steps=None if options.skip_parity else options.parity_steps,
        shuffle_seed=shuffle_seed,
        cpus=options.cpus,
        precision=options.precision,
        max_time=options.max_time,
        floor=floor,
        timeout=options.timeout,
        contenders_files=describe_files(options.contenders_file),
    )
    write_manifest(run_dir, manifest)
    return manifest
