"""rust-numpy-blas: the Rust binary on the OpenBLAS file NumPy loaded (`mlp --blas-library`).

It must obey the contract like the others (the same error lines as the NumPy reference, parity
through the harness), name its library in the start event, refuse a library it cannot use
with one line (exit 2), the same line the harness gives before any timing, and be "not
available here", with the reason, where NumPy's BLAS is no OpenBLAS file. Also here: the built-in
kernel chosen by measurement and cached (`mlp --kernel auto`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_contract_agreement import CASES, case_args, contender_commands, write_spec

from harness.preparation import numpy_blas
from harness.preparation.contenders import load_file
from harness.preparation.prepare import RunOptions, choose_contenders

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_32 = Path("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0")
DEBIAN_64 = Path("/usr/lib/x86_64-linux-gnu/openblas64-pthread/libopenblas64.so.0")


@pytest.fixture(scope="module")
def programs() -> dict[str, list[str]]:
    """The NumPy reference and the Rust binary on NumPy's OpenBLAS (skipped without one)."""
    found = numpy_blas.find()
    if found.path is None:
        pytest.skip(f"rust-numpy-blas not available here: {found.reason}")
    both = contender_commands()
    return {"python": both["python"], "twin": [*both["rust"], "--blas-library", found.path]}


def mlp(programs: dict[str, list[str]]) -> str:
    return programs["twin"][0]


def train(argv: list[str], *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*argv, "train", *args], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_the_numpy_references_line_and_exit_2(case, programs, tmp_path):
    args = case_args(case, tmp_path)
    python, twin = (train(programs[k], *args) for k in ("python", "twin"))
    assert (python.returncode, twin.returncode) == (2, 2), twin.stderr
    assert twin.stderr == python.stderr and len(twin.stderr.splitlines()) == 1


@pytest.mark.parametrize("threads", ["1", "2"])
def test_the_start_event_names_the_library_its_config_and_who_threads(programs, tmp_path, threads):
    metrics = tmp_path / "m.jsonl"
    spec = write_spec(tmp_path)
    done = train(programs["twin"], "--spec", str(spec), "--max-steps", "2", "--threads", threads,
                 "--metrics-out", str(metrics))  # fmt: skip
    assert done.returncode == 0, done.stderr
    start = json.loads(metrics.read_text().splitlines()[0])
    lib = start["blas_library"]
    assert lib["path"] == numpy_blas.find().path and lib["threads"] == int(threads)
    assert "USE64BITINT" in lib["config"] and lib["symbol"].endswith("sgemm64_")
    assert start["parallel"].startswith("none in Rust: the library threads each product")
    assert lib["path"] in start["gemm"] and "kernel_choice" not in start


def test_parity_through_the_harness_at_one_and_two_threads():
    names = "python-numpy,rust-numpy-blas,python-numpy-parallel,rust-numpy-blas-parallel"
    if numpy_blas.find().path is None:
        pytest.skip("no OpenBLAS file behind NumPy")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "verify", "--contenders", names, "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "python-numpy vs rust-numpy-blas " in done.stdout and "parity passed" in done.stdout


def bad_libraries(tmp_path: Path) -> list[tuple[Path, str]]:
    """(file, what its line must say): not a library, no sgemm, a 32-bit-integer OpenBLAS."""
    text = tmp_path / "notes.txt"
    text.write_text("not a library\n")
    cases = [
        (tmp_path / "missing.so", "cannot load as a shared library: No such file or directory"),
        (text, "cannot load as a shared library: "),
        (Path("/lib/x86_64-linux-gnu/libm.so.6"), "no cblas sgemm in it; expected a 64-bit"),
    ]
    if DEBIAN_32.exists():
        cases.append((DEBIAN_32, "a 32-bit-integer BLAS (cblas_sgemm, and"))
    return [(f, said) for f, said in cases if f.name == "missing.so" or f.exists()]


def test_a_library_it_cannot_use_is_one_line_naming_the_file_exit_2(programs, tmp_path):
    spec = write_spec(tmp_path)
    mlp_binary = programs["twin"][0]
    for lib, said in bad_libraries(tmp_path):
        done = train([mlp_binary, "--blas-library", str(lib)], "--spec", str(spec))
        assert done.returncode == 2, (lib, done.stderr)
        assert done.stderr.startswith(f"error: {lib}: {said}"), done.stderr
        assert len(done.stderr.splitlines()) == 1


def test_the_harness_gives_the_same_line_before_any_timing(programs, tmp_path):
    if not DEBIAN_32.exists():
        pytest.skip(f"{DEBIAN_32} not installed (Debian: libopenblas0-pthread)")
    mine = tmp_path / "mine.json"
    program = [mlp(programs), "--blas-library", str(DEBIAN_32)]
    entry = {"name": "rust-blas32", "implementation": "rust-numpy-blas", "algorithm": "batched",
             "build": "cargo:mlp", "program": program}  # fmt: skip
    mine.write_text(json.dumps({"schema_version": 1, "contenders": [entry]}))
    spec = write_spec(tmp_path)
    own = train([mlp(programs), "--blas-library", str(DEBIAN_32)], "--spec", str(spec))
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--contenders-file", str(mine),
         "--contenders", "python-numpy,rust-blas32", "--out", str(out), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == own.stderr.strip()
    assert not out.exists()  # nothing created, nothing timed


def test_a_64_bit_openblas_without_the_suffix_is_taken_by_its_config(programs, tmp_path):
    if not DEBIAN_64.exists():
        pytest.skip(f"{DEBIAN_64} not installed (Debian: libopenblas64-0-pthread)")
    metrics, spec = tmp_path / "m.jsonl", write_spec(tmp_path)
    done = train([mlp(programs), "--blas-library", str(DEBIAN_64)], "--spec", str(spec),
                 "--max-steps", "1", "--metrics-out", str(metrics))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(metrics.read_text().splitlines()[0])["blas_library"]["symbol"] == (
        "cblas_sgemm"
    )


def test_per_sample_is_refused_with_the_library(programs, tmp_path):
    done = train(programs["twin"], "--spec", str(write_spec(tmp_path)), "--algorithm", "per-sample")
    assert done.returncode == 2
    assert done.stderr == (
        "error: --blas-library: expected --algorithm batched (per-sample products are "
        'matrix-vector), got "per-sample"\n'
    )


def test_numpy_blas_picks_the_openblas_pool_and_says_why_there_is_none():
    pools = [{"internal_api": "mkl", "filepath": "/x/libmkl_rt.so"},
             {"internal_api": "openblas", "filepath": "/y/libscipy_openblas64_-a.so"}]  # fmt: skip
    assert numpy_blas.choose(pools) == numpy_blas.Found("/y/libscipy_openblas64_-a.so", None)
    found = numpy_blas.choose(pools[:1])
    assert found.path is None and found.reason == (
        "NumPy's BLAS is not OpenBLAS but mkl (/x/libmkl_rt.so)"
    )
    assert numpy_blas.choose([]).reason.startswith("NumPy loaded no BLAS library")


def test_without_an_openblas_file_the_contender_is_not_available_with_the_reason(monkeypatch):
    none = numpy_blas.Found(None, "NumPy's BLAS is not OpenBLAS but accelerate (/System/x)")
    monkeypatch.setattr(numpy_blas, "find", lambda: none)
    table = load_file(ROOT / "contenders.json")
    assert table["rust-numpy-blas"].requires == numpy_blas.REQUIREMENT
    options = RunOptions(contenders=["python-numpy", "rust-numpy-blas"])
    chosen, notes = choose_contenders(options)
    assert [c.name for c in chosen] == ["python-numpy"]
    assert notes == [f"rust-numpy-blas not available here: {none.reason}"]


def test_the_kernel_is_measured_once_then_read_from_the_cache(programs, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MLP_BENCH_CACHE": str(tmp_path / "cache")}
    spec = write_spec(tmp_path)
    starts = []
    for i in range(2):
        metrics = tmp_path / f"m{i}.jsonl"
        done = train([mlp(programs)], "--spec", str(spec), "--max-steps", "1",
                     "--metrics-out", str(metrics), env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        starts.append(json.loads(metrics.read_text().splitlines()[0])["kernel_choice"])
    first, second = starts
    assert first["by"] == "measurement" and not first["from_cache"]
    assert set(first["seconds_per_step"]) == {"gemm", "matrixmultiply"}
    fastest = min(first["seconds_per_step"], key=first["seconds_per_step"].get)
    assert first["chosen"] == fastest
    assert second["from_cache"] and second["chosen"] == first["chosen"]
    assert second["seconds_per_step"] == first["seconds_per_step"]
    assert Path(second["cache"]).parent == tmp_path / "cache"


def test_a_named_kernel_skips_the_measurement(programs, tmp_path):
    metrics, spec = tmp_path / "m.jsonl", write_spec(tmp_path)
    done = train([mlp(programs), "--kernel", "matrixmultiply"], "--spec", str(spec),
                 "--max-steps", "1", "--metrics-out", str(metrics))  # fmt: skip
    assert done.returncode == 0, done.stderr
    start = json.loads(metrics.read_text().splitlines()[0])
    assert start["kernel_choice"] == {"chosen": "matrixmultiply", "by": "--kernel"}
    assert start["gemm"].startswith("matrixmultiply 0.3 sgemm")


@pytest.mark.slow
def test_a_real_run_decomposes_rusts_speedup_from_the_cells_own_runs(tmp_path, hyperfine2):
    """python-numpy, rust-numpy-blas and rust, really run: each factor in analysis.json and the
    summary is the geometric mean of the paired ratios of runs.csv's own times."""
    import numpy as np
    import pandas as pd

    from harness.__main__ import main
    from harness.model.analysis import read_analysis

    if numpy_blas.find().path is None:
        pytest.skip("no OpenBLAS file behind NumPy")
    names = ("python-numpy", "rust-numpy-blas", "rust")
    argv = ["run", "--out", str(tmp_path), "--contenders", ",".join(names), "--seeds", "1,2",
            "--runs", "2", "--warmup", "0", "--max-epochs", "3", "--target", "0.5",
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    run_dir = tmp_path / "latest"
    runs = pd.read_csv(run_dir / "tables" / "runs.csv", dtype={"seed": str})
    wide = runs.pivot_table(index=["seed", "round"], columns="contender", values="wall_seconds")
    logs = np.log(wide[list(names)].dropna().to_numpy())
    (d,) = read_analysis(run_dir).to_dict()["decomposition"]
    assert (d["reference"], d["twin"], d["native"]) == names and d["whole"]["n"] == len(logs) == 4
    expected = {"language": logs[:, 0] - logs[:, 1], "kernel": logs[:, 1] - logs[:, 2],
                "total": logs[:, 0] - logs[:, 2]}  # fmt: skip
    for factor, diffs in expected.items():
        assert d["whole"][factor]["ratio"] == pytest.approx(float(np.exp(diffs.mean())), rel=1e-9)
    summary = (run_dir / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| 1 | whole run |"))
    for factor in ("total", "language", "kernel"):  # the table shows every factor, always
        assert f"{d['whole'][factor]['ratio']:.2f}x" in row
    if d["withheld"]:  # a busy machine: the split is shown, not judged
        assert "At 1 thread, over the whole run: " + d["withheld"][0] in summary
    else:
        assert f"{d['whole']['language']['ratio']:.2f}x is the language" in summary
