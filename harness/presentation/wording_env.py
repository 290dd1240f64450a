"""env.json in words for the report: grouped rows with human units (GiB, MHz, library names).

The keys harness.preparation.envinfo writes get a sentence each (`NumPy 2.4.6 with OpenBLAS 0.3.31
(Haswell kernels, 2 threads)`); any other key (older folders, hand-written files) is kept,
flattened to `a.b`, with bytes in GiB and empty values as `n/a`. Standard library only.
"""

from __future__ import annotations

from typing import Any

# Keys not worded below go to the first group whose word occurs in the key; the rest: other.
GROUP_WORDS: list[tuple[str, tuple[str, ...]]] = [
    ("git", ("git",)),
    ("rust", ("rust", "cargo", "crate", "nalgebra", "gemm")),
    ("python", ("python", "numpy", "blas", "torch", "scipy", "pandas", "threadpool", "cuda")),
    ("tools", ("hyperfine", "chromium", "tool")),
    ("machine", ("cpu", "core", "memory", "mem", "os", "kernel", "host", "machine", "arch")),
]
ORDER = ("machine", "python", "rust", "tools", "git", "other")
BLAS_NAMES = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS", "accelerate": "Accelerate"}


def gib(value: Any) -> str:
    """Bytes as GiB (`23.5 GiB`)."""
    return f"{float(value) / 2**30:.1f} GiB"


def _plain(key: str, value: Any) -> str:
    """Any other value, readable: bytes in GiB, lists and dicts inline, None as n/a."""
    if value is None or value == "" or value == []:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("bytes") and isinstance(value, int | float):
        return gib(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(str(k), v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(key, v) for v in value)
    return str(value)


def blas_text(pools: list[dict[str, Any]]) -> str:
    """threadpoolctl's BLAS pools: `OpenBLAS 0.3.31 (Haswell kernels, 2 threads)`."""
    out = []
    for b in pools:
        name = BLAS_NAMES.get(str(b.get("internal_api")), str(b.get("internal_api")))
        version = ".".join(str(b.get("version") or "").split(".")[:3])
        details = []
        if b.get("architecture"):
            details.append(f"{b['architecture']} kernels")
        if b.get("num_threads") is not None:
            n = int(b["num_threads"])
            details.append(f"{n} thread{'s' if n != 1 else ''}")
        out.append(f"{name} {version}".strip() + (f" ({', '.join(details)})" if details else ""))
    return "; ".join(out) or "none seen"


def _worded(env: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """The keys envinfo.capture writes, each as a (label, words) row; popped from env."""
    rows: dict[str, list[tuple[str, str]]] = {g: [] for g in ORDER}
    take = env.pop
    if "cpu_model" in env:
        mhz = env.pop("cpu_mhz", None)
        rows["machine"].append(
            ("CPU", str(take("cpu_model")) + (f", {float(mhz):,.0f} MHz" if mhz else ""))
        )
    if "cpu_flags" in env:
        rows["machine"].append(("vector units", ", ".join(take("cpu_flags")) or "none listed"))
    if "logical_cores" in env:
        usable = take("usable_cores", None)
        text = f"{take('logical_cores')} logical"
        rows["machine"].append(("cores", text + (f", {usable} usable here" if usable else "")))
    if isinstance(env.get("memory_bytes"), int | float):
        rows["machine"].append(("memory", gib(take("memory_bytes"))))
    if "os" in env:
        rows["machine"].append(("OS", f"{take('os')} ({take('machine', '?')})"))
        env.pop("os_version", None)
    if isinstance(env.get("python"), dict):
        py = take("python")
        rows["python"].append(("Python", f"{py.get('version')} ({py.get('executable')})"))
    if isinstance(env.get("numpy"), dict):
        numpy = take("numpy")
        text = f"{numpy.get('version')} with {blas_text(numpy.get('blas') or [])}"
        rows["python"].append(("NumPy", text if numpy else "not installed"))
    if "torch" in env:
        rows["python"].append(("PyTorch", take("torch") or "not installed"))
    if "cuda" in env:
        rows["python"].append(("CUDA GPU", take("cuda") or "none seen by PyTorch"))
    for key, label in (("rustc", "rustc"), ("cargo", "cargo")):
        if key in env:
            rows["rust"].append((label, take(key) or "not found"))
    if isinstance(env.get("crates"), dict):
        crates = take("crates")
        rows["rust"].append(("crates", ", ".join(f"{k} {v}" for k, v in sorted(crates.items()))))
    if isinstance(env.get("hyperfine"), dict):
        hf = take("hyperfine")
        text = f"{hf.get('version')} ({hf.get('path')})" if hf.get("path") else "not found"
        rows["tools"].append(("hyperfine", text))
    if isinstance(env.get("git"), dict):
        git = take("git")
        state = {True: "uncommitted changes", False: "clean"}.get(git.get("dirty"), "state n/a")
        rows["git"].append(("commit", f"{git.get('commit') or 'n/a'} ({state})"))
    return rows


def env_groups(env: dict[str, Any] | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """env.json as (group, [(label, words)]) in the order machine, python, rust, tools, git,
    other; empty groups left out."""
    if not env:
        return []
    rest = {k: v for k, v in env.items() if k != "schema_version"}
    rows = _worded(rest)
    for key, value in rest.items():
        lower = key.lower()
        group = next((g for g, words in GROUP_WORDS if any(w in lower for w in words)), "other")
        rows[group].append((key, _plain(lower, value)))
    return [(g, rows[g]) for g in ORDER if rows[g]]


def gist(groups: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """One line for the collapsed section: the CPU, its cores and memory."""
    machine = dict(next((rows for g, rows in groups if g == "machine"), []))
    parts = [machine.get("CPU"), machine.get("cores"), machine.get("memory")]
    return ", ".join(p for p in parts if p) or "versions of every tool and library"
