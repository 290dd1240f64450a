"""The contender registry: name -> implementation, algorithm, threads and command line.

Built-in names: python-numpy, python-torch, rust, rust-parallel, and `<name>-per-sample` for
each (the per-sample algorithm). `<name>@N` runs any of them with N threads (`rust@2`). The
"parallel" ones (rust-parallel, rust-parallel-per-sample) use all cores by default, or the
`--threads` count; `--threads 1,2` turns each into one contender per count (`rust@1`,
`rust@2`), for the thread-scaling plot.

Extra contenders (the test suite's fakes, or any program obeying CONTRACT.md) come from a JSON
file named by the environment variable HARNESS_CONTENDERS_FILE (or passed explicitly):

    {"schema_version": 1, "contenders": [
      {"name": "fake-ok", "implementation": "fake", "algorithm": "batched", "threads": 1,
       "program": ["{python}", "{here}/fake_contender.py", "--mode", "ok"]}]}

`{python}` is the running interpreter and `{here}` the folder holding that file. The harness
appends `train --spec ... --init ... --algorithm ... --threads N --metrics-out ...
--save-model ...` to `program`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

ROOT = Path(__file__).resolve().parent.parent
RUST_DIR = ROOT / "rust_impl"
MLP_BINARY = RUST_DIR / "target" / "release" / "mlp"
CANDLE_BINARY = RUST_DIR / "target" / "release" / "mlp-candle"  # rust-candle (rust_impl/candle)
CARGO_PACKAGES = {"rust": "mlp", "rust-candle": "mlp-candle"}  # implementation -> cargo package
CONTENDERS_ENV = "HARNESS_CONTENDERS_FILE"
DEFAULT_RUN = ("python-numpy", "rust", "rust-parallel")
REFERENCE = "python-numpy"  # the contender every ratio and parity check is taken against
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ALGORITHMS = ("batched", "per-sample")


@dataclass(frozen=True)
class Contender:
    """One command line to time: which implementation, which algorithm, how many threads."""

    name: str
    implementation: str  # rust, python-numpy, python-torch (or a fake's own label)
    algorithm: str  # batched or per-sample
    threads: int  # compute threads, passed as --threads
    program: tuple[str, ...]  # the argv before `train`
    parallel: bool = False  # thread count follows --threads (default: all cores)

    @property
    def needs_cargo(self) -> bool:
        """Whether this contender is one of the Rust binaries (built by prepare)."""
        return bool(self.cargo_package)

    @property
    def cargo_package(self) -> str:
        """The rust_impl/ workspace package that builds this contender ("" if none)."""
        return CARGO_PACKAGES.get(self.implementation, "")

    def argv(
        self, spec: Path, init: str, metrics_out: str, save_model: str, extra: tuple[str, ...] = ()
    ) -> list[str]:
        """The full command line (init/metrics/model may hold the `{seed}` placeholder)."""
        return [
            *self.program,
            "train",
            "--spec",
            str(spec),
            "--init",
            init,
            "--algorithm",
            self.algorithm,
            "--threads",
            str(self.threads),
            "--metrics-out",
            metrics_out,
            "--save-model",
            save_model,
            *extra,
        ]

    def template(self, run_dir: Path) -> list[str]:
        """The argv template for a results folder, with `{seed}` where the seed goes."""
        return self.argv(
            run_dir / "spec.json",
            str(run_dir / "init" / "seed-{seed}.safetensors"),
            str(run_dir / "metrics" / self.name / "seed-{seed}.jsonl"),
            str(run_dir / "models" / self.name / "seed-{seed}.safetensors"),
        )

    def describe(self, run_dir: Path) -> dict[str, Any]:
        """The run.json / contenders.csv record of this contender."""
        return {
            "name": self.name,
            "implementation": self.implementation,
            "algorithm": self.algorithm,
            "threads": self.threads,
            "argv": self.template(run_dir),
        }


def torch_available() -> bool:
    """Whether PyTorch can be imported (the python-torch contender needs it)."""
    return importlib.util.find_spec("torch") is not None


def _builtin() -> dict[str, Contender]:
    """The built-in contenders, batched and per-sample."""
    python = (sys.executable, "-m", "python_impl")
    cores = os.cpu_count() or 1
    bases = [
        Contender("python-numpy", "python-numpy", "batched", 1, python),
        Contender("python-torch", "python-torch", "batched", 1, (*python, "--backend", "torch")),
        Contender("rust", "rust", "batched", 1, (str(MLP_BINARY),)),
        Contender("rust-parallel", "rust", "batched", cores, (str(MLP_BINARY),), parallel=True),
        Contender("rust-candle", "rust-candle", "batched", 1, (str(CANDLE_BINARY),)),
    ]
    registry = {}
    for c in bases:
        registry[c.name] = c
        per_sample = f"{c.name}-per-sample"
        registry[per_sample] = replace(c, name=per_sample, algorithm="per-sample")
    return registry


def load_file(path: Path) -> dict[str, Contender]:
    """Read extra contenders from a JSON file (format in the module docstring)."""
    from harness.results import read_json  # local: results imports nothing from here

    data = read_json(path)
    entries = data.get("contenders")
    if not isinstance(entries, list):
        raise HarnessError(f"{path}: contenders: expected a list of objects")
    here = str(path.resolve().parent)
    found = {}
    for i, entry in enumerate(entries):
        where = f"{path}: contenders[{i}]"
        if not isinstance(entry, dict):
            raise HarnessError(f"{where}: expected an object")
        try:
            name, impl, algo = entry["name"], entry["implementation"], entry["algorithm"]
            threads, program = entry.get("threads", 1), entry["program"]
        except KeyError as exc:
            raise HarnessError(f"{where}: missing key {exc}") from exc
        if not isinstance(name, str) or not _NAME.match(name):
            raise HarnessError(f"{where}.name: expected letters, digits, '.', '_', '-'")
        if algo not in ALGORITHMS:
            raise HarnessError(f"{where}.algorithm: expected batched or per-sample, got {algo}")
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise HarnessError(f"{where}.threads: expected a positive integer")
        if (
            not isinstance(program, list)
            or not program
            or not all(isinstance(p, str) for p in program)
        ):
            raise HarnessError(f"{where}.program: expected a non-empty list of strings")
        argv = tuple(p.replace("{python}", sys.executable).replace("{here}", here) for p in program)
        found[name] = Contender(name, str(impl), algo, threads, argv, bool(entry.get("parallel")))
    return found


def registry(extra_file: Path | None = None) -> dict[str, Contender]:
    """Built-in contenders plus those of extra_file or $HARNESS_CONTENDERS_FILE."""
    table = _builtin()
    env = os.environ.get(CONTENDERS_ENV)
    source = extra_file or (Path(env) if env else None)
    if source is not None:
        table.update(load_file(source))
    return table


def parse_threads(text: str) -> list[int]:
    """`--threads 4` or `--threads 1,2,4` -> [4] / [1, 2, 4]."""
    try:
        counts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        counts = []
    if not counts or any(n < 1 for n in counts):
        raise HarnessError(f"--threads: expected positive integers like 2 or 1,2,4, got {text!r}")
    return list(dict.fromkeys(counts))


def select(
    names: list[str], threads: list[int] | None = None, extra_file: Path | None = None
) -> list[Contender]:
    """Resolve --contenders names (with optional @N) and --threads into contenders."""
    table = registry(extra_file)
    chosen: dict[str, Contender] = {}
    for raw in names:
        base, _, count = raw.partition("@")
        if base not in table:
            raise HarnessError(
                f"--contenders: unknown contender {raw!r} (known: {', '.join(table)}; "
                "add @N for N threads)"
            )
        c = table[base]
        if count:
            chosen[raw] = replace(c, name=raw, threads=parse_threads(count)[0], parallel=False)
        elif c.parallel and threads and len(threads) > 1:
            # A sweep: rust-parallel -> rust@1, rust@2 ... (the base minus "-parallel").
            stem = base.replace("-parallel", "")
            for n in threads:
                name = f"{stem}@{n}"
                chosen[name] = replace(c, name=name, threads=n, parallel=False)
        elif c.parallel and threads:
            chosen[base] = replace(c, threads=threads[0])
        else:
            chosen[base] = c
    if not chosen:
        raise HarnessError("--contenders: expected at least one contender name")
    return list(chosen.values())
