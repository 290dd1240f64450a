"""Stage 1: build the Rust binary, resolve the data, write spec.json, init/, env.json, run.json."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import datasets, envinfo
from harness.contenders import DEFAULT_RUN, REFERENCE, RUST_DIR, Contender, select, torch_available
from harness.errors import HarnessError
from harness.hyperfine import find_hyperfine, hyperfine_version
from harness.results import now_iso, write_json

SPEC_TEMPLATE = Path(__file__).parent / "specs" / "mnist-mini.json"


@dataclass
class RunOptions:
    """What `harness run` was asked to do (the defaults finish in minutes on 2 cores)."""

    dataset: str = "mnist-mini"  # a name known to harness.datasets, or any with data_dir
    data_dir: Path | None = None  # a folder with the four IDX files (overrides the name's copy)
    contenders: list[str] = field(default_factory=lambda: list(DEFAULT_RUN))
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])  # one shared init per seed
    runs: int = 3  # timed runs per (contender, seed)
    warmup: int = 1  # untimed runs per (contender, seed) before those
    threads: list[int] | None = None  # threads of the parallel contenders (a list sweeps)
    target: float | None = None  # test accuracy to reach; None: the dataset's default
    max_epochs: int | None = None  # None: the spec template's 50
    out: Path = Path("results")  # the results root
    quiet: bool = False  # one line per stage unless set
    skip_parity: bool = False  # skip the K-step parity check before timing
    parity_steps: int = 3  # K of that check: cheap, yet catches a wrong contender


def build_rust(contenders: list[Contender], quiet: bool) -> None:
    """`cargo build --release --locked` in rust_impl/ of the selected Rust contenders' packages."""
    if not any(c.needs_cargo for c in contenders):
        return
    cargo = shutil.which("cargo")
    if cargo is None:
        raise HarnessError(
            "cargo: not found; install Rust (https://rustup.rs or `nix develop`) or leave out "
            "the Rust contenders (e.g. --contenders python-numpy)"
        )
    packages = sorted({f"--package={c.cargo_package}" for c in contenders if c.needs_cargo})
    argv = [cargo, "build", "--release", "--locked", *packages, *(["--quiet"] if quiet else [])]
    status = subprocess.run(argv, cwd=RUST_DIR, check=False).returncode
    if status != 0:
        raise HarnessError(
            f"{RUST_DIR}: `cargo build --release --locked` failed (exit {status}); "
            "see cargo's message above"
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


def write_inits(folder: Path, layers: list[int], seeds: list[int]) -> dict[int, Path]:
    """One He-normal initial model per seed (NumPy default_rng(seed)), shared by all."""
    from python_impl.model import he_normal
    from python_impl.modelfile import save_model

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for seed in seeds:
        paths[seed] = folder / f"seed-{seed}.safetensors"
        save_model(paths[seed], he_normal(layers, seed), {"init": f"he_normal:{seed}"})
    return paths


def resolve_target(options: RunOptions) -> float:
    """--target, else the dataset's default, else the template's."""
    if options.target is not None:
        if not 0 < options.target <= 1:
            raise HarnessError(f"--target: expected a number in (0, 1], got {options.target}")
        return options.target
    template = json.loads(SPEC_TEMPLATE.read_text())["target_accuracy"]
    return datasets.DEFAULT_TARGET.get(options.dataset, template)


def choose_contenders(options: RunOptions) -> tuple[list[Contender], list[str]]:
    """The selected contenders, minus python-torch when torch is missing (with a note)."""
    chosen = select(options.contenders, options.threads)
    notes = []
    if not torch_available():
        torch = [c for c in chosen if c.implementation == "python-torch"]
        if torch:
            names = ", ".join(c.name for c in torch)
            notes.append(f"{names} skipped: PyTorch is not installed (pip install -e '.[torch]')")
            chosen = [c for c in chosen if c.implementation != "python-torch"]
    if not chosen:
        raise HarnessError("--contenders: nothing left to run (" + "; ".join(notes) + ")")
    return chosen, notes


def reference_of(contenders: list[Contender]) -> str:
    """The contender ratios are taken against: python-numpy when present, else the first."""
    names = [c.name for c in contenders]
    return REFERENCE if REFERENCE in names else names[0]


def prepare(
    options: RunOptions,
    run_dir: Path,
    command_line: list[str],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the prepare stage into run_dir and return run.json's content."""
    contenders, notes = choose_contenders(options)
    for note in notes:
        log(f"note: {note}")
    hyperfine = find_hyperfine()
    build_rust(contenders, options.quiet)
    data_dir = datasets.resolve(options.dataset, options.data_dir)
    target = resolve_target(options)
    spec = make_spec(options.dataset, data_dir, target, options.max_epochs)
    write_spec(run_dir / "spec.json", spec)
    write_inits(run_dir / "init", spec["layers"], options.seeds)
    write_json(run_dir / "env.json", envinfo.capture())
    run = {
        "dataset": spec["dataset"],
        "target": target,
        "spec_sha256": hashlib.sha256((run_dir / "spec.json").read_bytes()).hexdigest(),
        "max_epochs": spec["max_epochs"],
        "seeds": options.seeds,
        "runs": options.runs,
        "warmup": options.warmup,
        "reference": reference_of(contenders),
        "contenders": [c.describe(run_dir) for c in contenders],
        "notes": notes,
        "command_line": command_line,
        "hyperfine": {"path": str(hyperfine), "version": hyperfine_version(hyperfine)},
        "parity": {"status": "skipped" if options.skip_parity else "pending"},
        "outcomes": {},
        "started": now_iso(),
        "finished": None,
        "interrupted": False,
    }
    write_json(run_dir / "run.json", run)
    return run
