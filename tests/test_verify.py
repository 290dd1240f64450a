"""Parity: contenders trained K steps from one initial model agree within tolerance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.measurement import verify
from harness.preparation import contenders, prepare
from harness.preparation.contenders import MLP_BINARY


def _setup(tmp_path: Path, data: Path) -> tuple[Path, Path]:
    """A spec over `data` and a seed-1 initial model."""
    spec = prepare.make_spec("mnist-mini", data, 0.99, None)
    prepare.write_spec(tmp_path / "spec.json", spec)
    init = prepare.write_inits(tmp_path / "init", spec["layers"], [1])[1]
    return tmp_path / "spec.json", init


def test_the_tolerance_grows_with_the_square_root_of_the_steps() -> None:
    assert verify.abs_tolerance(4) == pytest.approx(2 * verify.abs_tolerance(1))
    assert verify.abs_tolerance(100) == pytest.approx(10 * verify.ABS_TOL)


def test_numpy_batched_and_per_sample_agree_after_two_steps(
    tmp_path: Path, tiny_data: Path
) -> None:
    spec, init = _setup(tmp_path, tiny_data)
    chosen = contenders.select(["python-numpy", "python-numpy-per-sample"])
    result = verify.verify(chosen, spec, init, 2, tmp_path / "work")
    assert result["status"] == "passed", verify.format_table(result)
    (pair,) = result["pairs"]
    assert {t["tensor"] for t in pair["tensors"]} == {
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
    }  # fmt: skip
    losses = result["contenders"]["python-numpy"]["step_losses"]
    assert len(losses) == 2 and losses[0] > 0


def test_a_contender_that_perturbs_one_weight_fails_parity(
    tmp_path: Path, tiny_data: Path, fakes: Path
) -> None:
    spec, init = _setup(tmp_path, tiny_data)
    chosen = contenders.select(["python-numpy", "fake-perturb"])
    result = verify.verify(chosen, spec, init, 1, tmp_path / "work")
    assert result["status"] == "failed"
    worst = {t["tensor"]: t for t in result["pairs"][0]["tensors"]}["layers.0.weight"]
    assert worst["max_abs"] == pytest.approx(1e-2, rel=1e-3) and not worst["passed"]
    line = next(x for x in verify.format_table(result).splitlines() if "fake-perturb" in x)
    assert line.endswith("FAIL: outside tolerance in layers.0.weight")  # only the one off


def test_a_contender_that_cannot_run_fails_parity_with_its_error(
    tmp_path: Path, tiny_data: Path, fakes: Path
) -> None:
    spec, init = _setup(tmp_path, tiny_data)
    chosen = contenders.select(["python-numpy", "fake-bad-input"])
    result = verify.verify(chosen, spec, init, 1, tmp_path / "work")
    assert result["status"] == "failed" and result["pairs"] == []
    bad = result["contenders"]["fake-bad-input"]
    assert bad["exit_code"] == 2 and "batch_size" in bad["error"]
    json.dumps(result)  # parity.json must be serialisable


@pytest.mark.slow
@pytest.mark.parametrize("steps", [1, 10])
def test_numpy_and_rust_agree_batched_and_per_sample_on_one_two_and_four_threads(
    tmp_path: Path, steps: int
) -> None:
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed")
    names = [
        "python-numpy",
        "python-numpy-per-sample",
        "rust",
        "rust-per-sample",
        "rust@2",
        "rust@4",
        "rust-per-sample@2",
        "rust-per-sample@4",
    ]
    chosen = contenders.select(names)
    prepare.build_rust(chosen, quiet=True)
    assert MLP_BINARY.exists()
    from harness.preparation.datasets import EMBEDDED_DIR

    spec, init = _setup(tmp_path, EMBEDDED_DIR)  # 10 steps at batch 512 = one whole epoch
    result = verify.verify(chosen, spec, init, steps, tmp_path / "work")
    assert result["status"] == "passed", verify.format_table(result)
    assert len(result["pairs"]) == 28  # every pair of the 8 contenders
