"""The contender registry: name -> implementation, algorithm, threads and command line.

Every contender, the built-in ones included, is declared in a JSON file of one format: the
built-ins in contenders.json at the repository root, your own in a file given with
`--contenders-file FILE` (or the environment variable HARNESS_CONTENDERS_FILE). The harness
knows nothing else about a contender: it runs `program` + `train --spec ... --init ...
--algorithm ... --threads N --metrics-out ... --save-model ...` (CONTRACT.md).

    {"schema_version": 1, "contenders": [
      {"name": "my-mlp", "implementation": "c++", "algorithm": "batched", "threads": 1,
       "program": ["{here}/build/my-mlp"]}]}

Keys: name, implementation, algorithm (batched or per-sample), program (a list: `{python}` is
the running interpreter, `{here}` the folder holding the file, `{numpy_blas}` the OpenBLAS file
NumPy loaded, numpy_blas; without one the contender is not available); optional threads
(a count, or "all" for every core: such a contender follows --threads), per_sample (also register
`<name>-per-sample`), build ("cargo" or "cargo:<package>": built in rust_impl/ by prepare when
selected), requires (a Python module that must import, e.g. "torch"; "cuda": PyTorch must see
a GPU: python-torch-cuda; "numpy-blas": NumPy's BLAS is an OpenBLAS file, numpy_blas),
language and approach ("from-scratch" or "framework": the contender's
cell in the report's 2x2, harness.analysis.grid).

`<name>@N` runs any contender with N threads (`rust@2`); `--threads 1,2` turns each "all"
contender into one per count (`rust@1`, `rust@2`), for the thread-scaling plot. By default
`run` compares like with like: python-numpy and rust at 1 thread and at all cores
(python-numpy-parallel: NumPy's BLAS threads), plus rust-numpy-blas at both where NumPy's BLAS
is an OpenBLAS file and python-torch at both when it imports.
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
from harness.preparation import numpy_blas

ROOT = Path(__file__).resolve().parents[2]
RUST_DIR = ROOT / "rust_impl"
MLP_BINARY = RUST_DIR / "target" / "release" / "mlp"
BUILTIN_FILE = ROOT / "contenders.json"
CONTENDERS_ENV = "HARNESS_CONTENDERS_FILE"
REFERENCE = "python-numpy"  # the contender every ratio and parity check is taken against
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a file name on every system
MAX_THREADS = 1024  # CONTRACT.md: --threads is checked against the same fixed bound
ALGORITHMS = ("batched", "per-sample")
APPROACHES = ("from-scratch", "framework")


@dataclass(frozen=True)
class Contender:
    """One command line to time: which implementation, which algorithm, how many threads."""

    name: str
    implementation: str  # rust, python-numpy, python-torch (or a fake's own label)
    algorithm: str  # batched or per-sample
    threads: int  # compute threads, passed as --threads
    program: tuple[str, ...]  # the argv before `train`
    parallel: bool = False  # thread count follows --threads (default: all cores)
    build: str | None = None  # "cargo" or "cargo:<package>": prepare builds it first
    requires: str | None = None  # a Python module that must import (e.g. torch)
    language: str | None = None  # "Python", "Rust", ...: its row in the 2x2 (harness.analysis.grid)
    approach: str | None = None  # "from-scratch" or "framework": its column in the 2x2

    @property
    def needs_cargo(self) -> bool:
        """Whether prepare must build this contender with cargo."""
        return bool(self.build) and self.build.split(":")[0] == "cargo"

    @property
    def cargo_package(self) -> str | None:
        """The cargo package to build (None: the workspace's default)."""
        return self.build.partition(":")[2] or None if self.build else None

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
            "language": self.language,
            "approach": self.approach,
            "argv": self.template(run_dir),
        }


def importable(module: str) -> bool:
    """Whether a contender's `requires` holds: a Python module imports, or for "cuda",
    PyTorch sees a CUDA GPU."""
    if module == numpy_blas.REQUIREMENT:
        return numpy_blas.find().path is not None
    if module == "cuda":
        if not importable("torch"):
            return False
        import torch

        return bool(torch.cuda.is_available())
    return importlib.util.find_spec(module) is not None


def torch_available() -> bool:
    """Whether PyTorch can be imported (the python-torch contenders need it)."""
    return importable("torch")


def default_names() -> list[str]:
    """Like for like: each implementation at 1 thread and at all cores (one set on 1 core);
    rust-numpy-blas where NumPy runs on an OpenBLAS file."""
    pairs = [("python-numpy", "python-numpy-parallel"), ("rust", "rust-parallel")]
    if numpy_blas.find().path is not None:  # Rust on NumPy's OpenBLAS: kernel vs language
        pairs.append(("rust-numpy-blas", "rust-numpy-blas-parallel"))
    if torch_available():
        pairs.append(("python-torch", "python-torch-parallel"))
    many = (os.cpu_count() or 1) > 1
    return [name for pair in pairs for name in (pair if many else pair[:1])]


def _builtin() -> dict[str, Contender]:
    """The built-in contenders (contenders.json at the repository root)."""
    return load_file(BUILTIN_FILE)


def load_file(path: Path) -> dict[str, Contender]:
    """Read extra contenders from a JSON file (format in the module docstring)."""
    from harness.model.records import read_json  # local: records imports nothing from here

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
            raise HarnessError(
                f"{where}.name: expected 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if algo not in ALGORITHMS:
            raise HarnessError(f"{where}.algorithm: expected batched or per-sample, got {algo}")
        parallel = threads == "all"
        if parallel:
            threads = os.cpu_count() or 1
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise HarnessError(f'{where}.threads: expected a positive integer or "all"')
        build, requires = entry.get("build"), entry.get("requires")
        if build is not None and (not isinstance(build, str) or build.split(":")[0] != "cargo"):
            raise HarnessError(f'{where}.build: expected "cargo" or "cargo:<package>"')
        if requires is not None and not isinstance(requires, str):
            raise HarnessError(f"{where}.requires: expected a Python module name")
        language, approach = entry.get("language"), entry.get("approach")
        if language is not None and (not isinstance(language, str) or not language.strip()):
            raise HarnessError(f"{where}.language: expected a name such as Python or Rust")
        if approach is not None and approach not in APPROACHES:
            raise HarnessError(f'{where}.approach: expected "from-scratch" or "framework"')
        if (
            not isinstance(program, list)
            or not program
            or not all(isinstance(p, str) for p in program)
        ):
            raise HarnessError(f"{where}.program: expected a non-empty list of strings")
        argv = tuple(p.replace("{python}", sys.executable).replace("{here}", here) for p in program)
        if any(numpy_blas.PLACEHOLDER in p for p in argv):
            blas = numpy_blas.find().path
            if blas is None:
                requires = requires or numpy_blas.REQUIREMENT  # not available here, with why
            else:
                argv = tuple(p.replace(numpy_blas.PLACEHOLDER, blas) for p in argv)
        c = Contender(
            name, str(impl), algo, threads, argv, parallel, build, requires, language, approach
        )
        found[name] = c
        if entry.get("per_sample"):
            found[f"{name}-per-sample"] = replace(
                c, name=f"{name}-per-sample", algorithm="per-sample"
            )
    return found


def extra_files(extra_file: Path | None = None) -> list[Path]:
    """The files that add contenders: $HARNESS_CONTENDERS_FILE, then --contenders-file."""
    env = os.environ.get(CONTENDERS_ENV)
    files = [Path(env)] if env else []
    return [*files, *([extra_file] if extra_file is not None else [])]


def registry(extra_file: Path | None = None) -> dict[str, Contender]:
    """Built-in contenders plus those of $HARNESS_CONTENDERS_FILE and extra_file.

    The built-ins are the references every ratio is taken against, so a file may add
    contenders but never replace one: a built-in name in it is refused (exit 2).
    """
    table = _builtin()
    builtin = set(table)
    for source in extra_files(extra_file):
        added = load_file(source)
        clash = sorted(set(added) & builtin)
        if clash:
            raise HarnessError(
                f"{source}: contender {clash[0]!r} is built in; a contenders file adds "
                "contenders but cannot replace the harness's own (the references): rename yours"
            )
        table.update(added)
    return table


def describe_files(extra_file: Path | None = None) -> list[dict[str, Any]]:
    """run.json's record of each file that added contenders: path, sha256, names."""
    import hashlib

    described = []
    for source in extra_files(extra_file):
        digest = hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file() else None
        names = sorted(load_file(source))
        described.append({"path": str(source.resolve()), "sha256": digest, "contenders": names})
    return described


def parse_threads(text: str) -> list[int]:
    """`--threads 4` or `--threads 1,2,4` -> [4] / [1, 2, 4]."""
    try:
        counts = [int(t) for t in text.split(",") if t.strip()]
        if not all(t.strip().isascii() for t in text.split(",")):
            counts = []
    except ValueError:
        counts = []
    if not counts or any(not 1 <= n <= MAX_THREADS for n in counts):
        raise HarnessError(
            f"--threads: expected integers in [1, {MAX_THREADS}] like 2 or 1,2,4, got {text!r}"
        )
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
