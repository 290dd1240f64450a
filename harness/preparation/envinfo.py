"""The machine and tools a run used (env.json), and the `env` subcommand's checklist."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from harness.preparation.contenders import MLP_BINARY, ROOT, RUST_DIR, torch_available

# Crates whose versions explain the Rust side's speed; read from rust_impl/Cargo.lock.
CRATES = ("nalgebra", "matrixmultiply", "gemm", "rayon", "safetensors", "serde_json", "libloading")


def _run(argv: list[str], cwd: Path | None = None) -> str | None:
    """First line of a command's stdout, or None when it cannot run or fails."""
    try:
        out = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().splitlines()[0] if out.strip() else ""


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo on Linux, else platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        brand = _run(["sysctl", "-n", "machdep.cpu.brand_string"])
        if brand:
            return brand
    return platform.processor() or platform.machine()


VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "amx_tile")
VECTOR_FLAGS_ARM = ("asimd", "sve", "sve2")


def _cpuinfo_field(name: str) -> str | None:
    """The first value of a /proc/cpuinfo field (Linux), None elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_mhz() -> float | None:
    """The first core's clock as the kernel reports it now (MHz), when it does."""
    text = _cpuinfo_field("cpu MHz")
    try:
        return float(text) if text else None
    except ValueError:
        return None


def cpu_flags() -> list[str]:
    """The vector instruction sets the CPU reports (AVX2, AVX-512, ...: what BLAS kernels use)."""
    have = set((_cpuinfo_field("flags") or _cpuinfo_field("Features") or "").split())
    return [f for f in (*VECTOR_FLAGS, *VECTOR_FLAGS_ARM) if f in have]


# CPU feature flags (/proc/cpuinfo on Linux, sysctl on macOS) -> SIMD level, widest first.
SIMD_FLAGS = (
    ("avx512f", "AVX-512"),
    ("sve", "SVE"),
    ("avx2", "AVX2"),
    ("avx", "AVX"),
    ("asimd", "NEON"),
    ("neon", "NEON"),
    ("sse4_2", "SSE4.2"),
)


def simd_level() -> str | None:
    """The widest SIMD instruction set the CPU offers (AVX-512, AVX2, SVE, NEON ...)."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags |= set(line.split(":", 1)[1].lower().split())
    except OSError:
        pass
    if not flags and platform.system() == "Darwin":
        features = _run(["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"])
        flags = set((features or "").lower().replace(".", "_").split())
        if platform.machine() == "arm64":
            flags.add("neon")
    return next((level for flag, level in SIMD_FLAGS if flag in flags), None)


def memory_bytes() -> int | None:
    """Total physical memory in bytes, when the OS tells."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def crate_versions(lock: Path = RUST_DIR / "Cargo.lock") -> dict[str, str]:
    """Versions of the interesting crates pinned in Cargo.lock (empty when there is none)."""
    try:
        packages = tomllib.loads(lock.read_text()).get("package", [])
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {p["name"]: p["version"] for p in packages if p.get("name") in CRATES}


def numpy_info() -> dict[str, Any]:
    """NumPy's version and its BLAS (library, version, kernel, threads) via threadpoolctl."""
    try:
        import numpy
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    return {"version": numpy.__version__, "blas": numpy_blas_pools(threadpool_info())}


def numpy_blas_pools(pools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The BLAS NumPy itself loaded, from threadpoolctl's pools: the wheels of NumPy and SciPy
    each bundle an OpenBLAS (numpy.libs/, scipy.libs/), and once SciPy is imported both are in
    the process, in load order; so the pools under NumPy's folder, else (a system NumPy, one
    shared BLAS) every BLAS pool."""
    blas = [p for p in pools if p.get("user_api") == "blas"]
    own = [p for p in blas if _under_numpy(str(p.get("filepath") or ""))]
    keys = ("internal_api", "version", "architecture", "num_threads")
    return [{k: pool.get(k) for k in keys} for pool in own or blas]


def _under_numpy(filepath: str) -> bool:
    """Whether a library lies in NumPy's wheel (numpy.libs/, numpy/.dylibs/, numpy/...)."""
    return any(part.lower().startswith("numpy") for part in Path(filepath).parts[-3:-1])


def git_state() -> dict[str, Any]:
    """The project's git commit and whether the tree has uncommitted changes."""
    commit = _run(["git", "rev-parse", "HEAD"], cwd=ROOT)
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def hyperfine_info() -> dict[str, Any]:
    """Path and version of the hyperfine the harness would use."""
    from harness.errors import HarnessError
    from harness.model.hyperfine import find_hyperfine, hyperfine_version, missing_features

    try:
        path = find_hyperfine()
        version = hyperfine_version(path)
    except HarnessError as exc:
        return {"path": None, "version": None, "missing": str(exc)}
    return {"path": str(path), "version": version, "lacks": missing_features(version)}


def capture() -> dict[str, Any]:
    """Everything env.json records about this machine and its tools."""
    uname = platform.uname()
    return {
        "cpu_model": cpu_model(),
        "cpu_mhz": cpu_mhz(),
        "cpu_flags": cpu_flags(),
        "simd": simd_level(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": memory_bytes(),
        "os": f"{uname.system} {uname.release}",
        "os_version": uname.version,
        "machine": uname.machine,
        "hostname": uname.node,
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "numpy": numpy_info(),
        "numpy_blas_file": _numpy_blas_file(),
        "torch": _torch_version(),
        "cuda": _cuda_device(),
        "rustc": _run(["rustc", "--version"]),
        "cargo": _run(["cargo", "--version"]),
        "crates": crate_versions(),
        "hyperfine": hyperfine_info(),
        "git": git_state(),
    }


def _numpy_blas_file() -> dict[str, str | None]:
    """The OpenBLAS file NumPy loaded (rust-numpy-blas runs on it), or why there is none."""
    from harness.preparation import numpy_blas

    found = numpy_blas.find()
    return {"path": found.path, "reason": found.reason}


def _cuda_device() -> str | None:
    """The CUDA GPU PyTorch sees (python-torch-cuda), None without torch or a GPU."""
    if not torch_available():
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"


def _torch_version() -> str | None:
    """PyTorch's version when installed (imported only then: it is slow to import)."""
    if not torch_available():
        return None
    import torch

    return str(torch.__version__)


def checklist(env: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(tool, version or None when missing, how to install it) rows for `harness env`."""
    numpy = env["numpy"]
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} ({b['architecture']})" for b in numpy.get("blas", [])
    )
    mlp = "built" if MLP_BINARY.exists() else None
    return [
        ("python", env["python"]["version"], "Python 3.11 or newer"),
        (
            "numpy",
            numpy.get("version") and f"{numpy['version']} [{blas or 'no BLAS seen'}]",
            "make bench creates .venv with it; or .venv/bin/pip install -e . in the project",
        ),
        (
            "hyperfine",
            env["hyperfine"]["version"],
            "pip install astral-dev-toolchain-hyperfine, or cargo install hyperfine",
        ),
        ("rustc", env["rustc"], "https://rustup.rs (or `nix develop`)"),
        ("cargo", env["cargo"], "https://rustup.rs (or `nix develop`)"),
        (
            "mlp (Rust binary)",
            mlp and f"{mlp}: {MLP_BINARY}",
            "built by `python -m harness run`, or cargo build --release in rust_impl/",
        ),
        (
            "NumPy's OpenBLAS file (optional)",
            (env.get("numpy_blas_file") or {}).get("path"),
            "NumPy on OpenBLAS (the PyPI wheel), for the rust-numpy-blas contenders: "
            + str((env.get("numpy_blas_file") or {}).get("reason")),
        ),
        ("torch (optional)", env["torch"], "pip install -e '.[torch]' (python-torch contender)"),
        (
            "CUDA GPU (optional)",
            env.get("cuda"),
            "a GPU PyTorch can use (python-torch-cuda contender)",
        ),
        ("git", env["git"]["commit"], "install git (records the commit in env.json)"),
    ]


def format_checklist(env: dict[str, Any]) -> tuple[str, bool]:
    """The `env` subcommand's text and whether everything required is present."""
    lines = [
        f"machine: {env['cpu_model']}, {env['logical_cores']} cores, "
        f"{(env['memory_bytes'] or 0) / 2**30:.1f} GiB, {env['os']}",
    ]
    required_ok = True
    for tool, version, hint in checklist(env):
        if version:
            lines.append(f"  ok       {tool:<18} {version}")
        else:
            optional = "optional" in tool or tool.startswith(("mlp", "git"))
            required_ok &= optional
            lines.append(f"  missing  {tool:<18} -> {hint}")
    lacks = env["hyperfine"].get("lacks")
    if lacks:
        lines.append(
            f"  old      hyperfine {env['hyperfine']['version']} does not record "
            f"{' or '.join(lacks)}: those columns stay empty -> pip install -e . brings "
            "hyperfine 2 into the project's venv, which the harness prefers"
        )
        required_ok = False
    if env["crates"]:
        crates = ", ".join(f"{k} {v}" for k, v in sorted(env["crates"].items()))
        lines.append(f"  crates   {crates}")
    return "\n".join(lines), required_ok
