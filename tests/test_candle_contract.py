"""rust-candle obeys CONTRACT.md like the others: K-step parity with the NumPy reference
(harness/measurement/verify.py: check, tolerance) at 1 and 2 threads, and the `mlp` binary's exact
error lines and exit codes on bad inputs. Skipped when a binary cannot be built.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_contract_agreement import CASES, case_args, write_spec
from test_faults_contenders import (
    EARLIER_MODEL,
    NOT_FILES,
    assert_save_refused,
    make_destination,
    small_disk,  # noqa: F401 (a fixture)
)

from harness.measurement.verify import verify
from harness.preparation import prepare
from harness.preparation.contenders import MLP_BINARY, RUST_DIR, Contender, select
from python_impl.model import he_normal
from python_impl.modelfile import save_model

PARITY_STEPS = 4


@pytest.fixture(scope="module")
def candle() -> Path:
    """The mlp-candle binary, and the release mlp binary its error lines are compared with.

    mlp-candle is built in the dev profile (rust_impl/Cargo.toml: the dependencies optimised,
    candle's own crates at opt-level 1), whose builds `cargo test --workspace` reuses: a clean
    release build of candle would add about ten more minutes on 2 cores, and correctness does
    not depend on the profile.
    """
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed")
    for argv in (["--release", "-p", "mlp"], ["-p", "mlp-candle"]):
        build = ["cargo", "build", "--locked", "--quiet", *argv]
        done = subprocess.run(build, cwd=RUST_DIR, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"`{' '.join(build)}` failed: {done.stderr.strip()[-300:]}")
    return RUST_DIR / "target" / "debug" / "mlp-candle"


def shared_init(tmp: Path, layers: list[int]) -> Path:
    """A He-normal initial model as the harness writes it (NumPy default_rng(7))."""
    path = tmp / "init.safetensors"
    save_model(path, he_normal(layers, seed=7))
    return path


@pytest.mark.slow  # builds mlp-candle: minutes on 2 cores
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("algorithm", ["batched", "per-sample"])
def test_rust_candle_passes_the_k_step_parity_check_against_the_numpy_reference(
    candle: Path, tmp_path: Path, threads: int, algorithm: str
) -> None:
    spec = write_spec(tmp_path)
    layers = json.loads(spec.read_text())["layers"]
    reference = select(["python-numpy"])[0]
    contender = Contender("rust-candle", "rust-candle", algorithm, threads, (str(candle),))
    result = verify(
        [reference, contender], spec, shared_init(tmp_path, layers), PARITY_STEPS, tmp_path
    )
    assert result["contenders"]["rust-candle"]["exit_code"] == 0, result["contenders"]
    assert len(result["contenders"]["rust-candle"]["step_losses"]) == PARITY_STEPS
    assert result["status"] == "passed", json.dumps(result["pairs"], indent=1)


@pytest.mark.slow  # builds mlp-candle: minutes on 2 cores
def test_rust_candle_with_leaky_relu_and_sigmoid_mse_passes_parity_too(
    candle: Path, tmp_path: Path
) -> None:
    spec = write_spec(
        tmp_path,
        hidden_activation={"kind": "leaky_relu", "alpha": 0.2},
        output="sigmoid_mse",
        layers=[784, 32, 10],
        batch_size=100,
        optimizer={"kind": "sgd", "learning_rate": 0.5},
    )
    reference = select(["python-numpy"])[0]
    contender = Contender("rust-candle", "rust-candle", "batched", 1, (str(candle),))
    init = shared_init(tmp_path, [784, 32, 10])
    result = verify([reference, contender], spec, init, PARITY_STEPS, tmp_path)
    assert result["status"] == "passed", json.dumps(result["pairs"], indent=1)


def run_both(candle: Path, args: list[str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """`train ARGS` with the mlp and the mlp-candle binaries."""
    return {
        str(program.name): subprocess.run(
            [str(program), "train", *args], capture_output=True, text=True, timeout=300
        )
        for program in (MLP_BINARY, candle)
    }


@pytest.mark.slow  # builds mlp-candle: minutes on 2 cores
@pytest.mark.parametrize("case", CASES)
def test_rust_candle_rejects_bad_input_with_the_mlp_binarys_line_and_exit_2(
    case: str, candle: Path, tmp_path: Path
) -> None:
    results = run_both(candle, case_args(case, tmp_path))
    for name, proc in results.items():
        assert proc.returncode == 2, f"{name}: exit {proc.returncode}, stderr {proc.stderr!r}"
        assert len(proc.stderr.splitlines()) == 1, f"{name}: {proc.stderr!r}"
    assert results["mlp-candle"].stderr == results["mlp"].stderr


@pytest.mark.slow  # builds mlp-candle: minutes on 2 cores
def test_rust_candle_reports_divergence_at_the_same_step_as_mlp_with_exit_3(
    candle: Path, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, optimizer={"kind": "sgd", "learning_rate": 1e6})
    init = shared_init(tmp_path, json.loads(spec.read_text())["layers"])
    results = run_both(candle, ["--spec", str(spec), "--init", str(init)])
    assert [p.returncode for p in results.values()] == [3, 3], results
    assert results["mlp-candle"].stderr == results["mlp"].stderr
    assert results["mlp"].stderr.startswith("error: training diverged: ")


@pytest.mark.slow  # builds mlp-candle: minutes on 2 cores
@pytest.mark.parametrize("kind", [*NOT_FILES, "/dev/full"])
def test_rust_candle_refuses_a_model_path_that_is_not_a_regular_file_as_mlp_does(
    kind: str, candle: Path, tmp_path: Path
) -> None:
    """Exit 2, mlp's line, and the path and its folder exactly as before (candle's own
    VarMap::save would replace a symlink or /dev/full with a regular file)."""
    for program in (MLP_BINARY, candle):
        folder = tmp_path / program.name
        folder.mkdir()
        model = Path(kind) if kind == "/dev/full" else make_destination(folder, kind)
        assert_save_refused([str(program)], tmp_path, model, folder, "not a regular file")
    assert Path("/dev/full").is_char_device()


@pytest.mark.slow  # builds mlp-candle: minutes on 2 cores
def test_rust_candle_on_a_full_disk_keeps_the_earlier_model_and_leaves_no_temporary_file(
    candle: Path,
    tmp_path: Path,
    small_disk: Path,  # noqa: F811 (the imported fixture)
) -> None:
    for program in (MLP_BINARY, candle):
        model = small_disk / f"{program.name}.safetensors"
        model.write_bytes(EARLIER_MODEL)
        full = "No space left on device"
        assert_save_refused([str(program)], tmp_path, model, small_disk, full)


@pytest.mark.parametrize(
    ("names", "packages"),
    [
        (["python-numpy"], None),
        (["python-numpy", "rust", "rust-parallel"], ["--package=mlp"]),
        (["rust-candle"], ["--package=mlp-candle"]),
        (["rust@2", "rust-candle-per-sample"], ["--package=mlp", "--package=mlp-candle"]),
    ],
)
def test_prepare_builds_only_the_cargo_packages_of_the_selected_contenders(
    names: list[str], packages: list[str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    chosen = select(names)  # before faking subprocess.run: finding NumPy's BLAS runs a child
    monkeypatch.setattr(prepare.shutil, "which", lambda _: "/usr/bin/cargo")
    monkeypatch.setattr(prepare.subprocess, "run", fake_run)
    prepare.build_rust(chosen, quiet=True)
    if packages is None:
        assert calls == []
    else:
        [argv] = calls
        assert [a for a in argv if a.startswith("--package")] == packages
