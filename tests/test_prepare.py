"""Prepare stage: results folders, the latest link, spec/init/run.json, the registry."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from harness.errors import HarnessError
from harness.model.records import read_json
from harness.model.results import new_results_dir, update_latest
from harness.preparation import contenders, prepare
from harness.preparation.envinfo import numpy_blas_pools

NOON = datetime(2026, 1, 2, 12, 0, 0)


def test_two_runs_started_in_the_same_second_get_distinct_folders(tmp_path: Path) -> None:
    first = new_results_dir(tmp_path, NOON, "box")
    second = new_results_dir(tmp_path, NOON, "box")
    third = new_results_dir(tmp_path, NOON, "box")
    assert [p.name for p in (first, second, third)] == [
        "20260102-120000-box",
        "20260102-120000-box-2",
        "20260102-120000-box-3",
    ]


def test_latest_is_a_relative_link_to_the_newest_folder(tmp_path: Path) -> None:
    old, new = new_results_dir(tmp_path, NOON, "a"), new_results_dir(tmp_path, NOON, "b")
    update_latest(old)
    update_latest(new)
    link = tmp_path / "latest"
    assert link.is_symlink() and str(link.readlink()) == new.name
    assert link.resolve() == new.resolve()


def test_a_harness_json_file_with_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"schema_version": 7}')
    with pytest.raises(
        HarnessError, match=r"run.json: schema_version 7 is not one this harness reads \(1, 2, 3\)"
    ):
        read_json(path)


def test_prepare_writes_spec_inits_env_and_run_json(
    tmp_path: Path, tiny_data: Path, fakes: Path, hyperfine2: None
) -> None:
    options = prepare.RunOptions(
        data_dir=tiny_data, contenders=["fake-ok"], seeds=[1, 5], target=0.5, max_epochs=4
    )
    run = prepare.prepare(
        prepare.plan(options), tmp_path, ["python -m harness", "run"], log=lambda _: None
    )
    spec = json.loads((tmp_path / "spec.json").read_text())
    assert spec["dataset"]["dir"] == str(tiny_data.resolve())
    assert (spec["target_accuracy"], spec["max_epochs"]) == (0.5, 4)
    weights = load_file(str(tmp_path / "init" / "seed-5.safetensors"))
    rng = np.random.default_rng(5)  # CONTRACT.md: He-normal from NumPy's default_rng(seed)
    expected = (rng.standard_normal((256, 784)) * np.sqrt(2 / 784)).astype(np.float32)
    np.testing.assert_array_equal(weights["layers.0.weight"], expected)
    assert read_json(tmp_path / "env.json")["logical_cores"] >= 1
    stored = read_json(tmp_path / "run.json")
    assert stored["seeds"] == [1, 5] and stored["reference"] == "fake-ok"
    assert "{seed}" in " ".join(run.contenders[0].argv)
    assert stored["parity_steps"] == 3 and stored["shuffle_seed"] == run.shuffle_seed
    floor = stored["floor"]
    assert floor["train_flops_per_epoch"] > 0 and floor["sgemm_gflops"]["1"] > 0
    assert floor["budget_seconds"] == 0.3  # tests/conftest.py's HARNESS_FLOOR_SECONDS


def test_python_torch_is_skipped_with_a_note_when_torch_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prepare, "importable", lambda module: module != "torch")
    options = prepare.RunOptions(contenders=["python-numpy", "python-torch"])
    chosen, notes = prepare.choose_contenders(options)
    assert [c.name for c in chosen] == ["python-numpy"]
    assert "python-torch skipped: Python module torch is not installed" in notes[0]


def test_a_thread_list_sweeps_the_parallel_contenders() -> None:
    chosen = contenders.select(["rust", "rust-parallel"], threads=[1, 2])
    assert [(c.name, c.threads) for c in chosen] == [("rust", 1), ("rust@1", 1), ("rust@2", 2)]


def test_a_single_thread_count_sets_the_parallel_contenders_threads() -> None:
    chosen = contenders.select(["python-numpy", "rust-parallel"], threads=[4])
    assert [(c.name, c.threads) for c in chosen] == [("python-numpy", 1), ("rust-parallel", 4)]


def test_name_at_n_runs_a_contender_with_n_threads() -> None:
    (c,) = contenders.select(["rust-per-sample@3"])
    assert (c.name, c.algorithm, c.threads) == ("rust-per-sample@3", "per-sample", 3)
    argv = c.template(Path("/r"))
    assert argv[argv.index("--threads") + 1] == "3"
    assert argv[argv.index("--metrics-out") + 1] == "/r/metrics/rust-per-sample@3/seed-{seed}.jsonl"


def test_an_unknown_contender_name_is_one_clear_error() -> None:
    with pytest.raises(HarnessError, match=r"unknown contender 'rust-fast' \(known: python-numpy"):
        contenders.select(["rust-fast"])


def test_a_contenders_file_with_a_bad_entry_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "contenders": [
                    {"name": "x", "implementation": "x", "algorithm": "sideways", "program": ["x"]}
                ],
            }
        )
    )
    with pytest.raises(HarnessError, match=r"contenders\[0\].algorithm: expected batched"):
        contenders.load_file(path)


def test_the_floor_is_measured_for_three_seconds_unless_the_variable_says_otherwise(monkeypatch):
    monkeypatch.delenv(prepare.FLOOR_SECONDS_ENV, raising=False)
    assert prepare.floor_budget() == 3.0
    monkeypatch.setenv(prepare.FLOOR_SECONDS_ENV, " 0.5 ")
    assert prepare.floor_budget() == 0.5


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "1e9"])
def test_a_floor_seconds_variable_that_is_not_a_sane_duration_is_refused_naming_it(
    monkeypatch, value
):
    monkeypatch.setenv(prepare.FLOOR_SECONDS_ENV, value)
    with pytest.raises(HarnessError, match=r"^HARNESS_FLOOR_SECONDS=.*expected seconds from"):
        prepare.floor_budget()


def test_env_json_names_numpys_own_blas_even_when_scipys_was_loaded_first():
    scipy = {
        "user_api": "blas",
        "internal_api": "openblas",
        "version": "0.3.30",
        "filepath": "/venv/site-packages/scipy.libs/libscipy_openblas-6cdc3b4a.so",
    }
    numpy = {
        "user_api": "blas",
        "internal_api": "openblas",
        "version": "0.3.31.188.0",
        "filepath": "/venv/site-packages/numpy.libs/libscipy_openblas64_-32a4b2a6.so",
    }
    openmp = {"user_api": "openmp", "internal_api": "openmp", "filepath": "/usr/lib/libgomp.so"}
    assert [p["version"] for p in numpy_blas_pools([scipy, openmp, numpy])] == ["0.3.31.188.0"]
    system = {**scipy, "filepath": "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"}
    assert [p["version"] for p in numpy_blas_pools([system, openmp])] == ["0.3.30"]  # one, shared
