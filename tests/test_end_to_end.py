"""The real thing on a small slice: cargo build, the real contenders, a full report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.__main__ import main
from harness.model.records import read_json

CONTENDERS = ("python-numpy", "rust", "rust-parallel")


@pytest.mark.slow
def test_a_short_real_run_reports_every_contender(tmp_path: Path, hyperfine2: None) -> None:
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed")
    argv = ["run", "--out", str(tmp_path), "--contenders", ",".join(CONTENDERS), "--seeds",
            "1", "--runs", "1", "--warmup", "0", "--max-epochs", "3", "--target", "0.5",
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    run_dir = tmp_path / "latest"
    outcome = read_json(run_dir / "outcome.json")
    assert outcome["parity_status"] == "passed"
    assert {name: o["status"] for name, o in outcome["outcomes"].items()} == dict.fromkeys(
        CONTENDERS, "ok"
    )
    runs = pd.read_csv(run_dir / "tables" / "runs.csv")
    assert sorted(runs["contender"]) == sorted(CONTENDERS)
    assert runs["reached_target"].all() and (runs["startup_seconds"] > 0).all()
    # Same initial model, same batches: the same number of epochs for every contender.
    assert runs["epochs"].nunique() == 1
    assert pd.read_csv(run_dir / "tables" / "evaluator.csv")["agrees"].all()
    html = (run_dir / "report.html").read_text()
    assert all(name in html for name in CONTENDERS)
