"""`harness merge` over real runs: one real `harness run` on this machine, a copy of it whose
env.json describes another machine, and the real schema-1 example folder (an AMD EPYC VM)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM, probe
from merge_support import (
    EXAMPLE,
    check_single_folder_machine,
    check_summary_cells,
    env_of,
    write_env,
)

from harness.__main__ import main
from harness.model.analysis import read_analysis
from harness.pooling.merge import merge

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real, tiny `harness run` (2 seeds, 1 round, no warm-up): python-numpy and rust."""
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed: the rust contender cannot be built")
    root = tmp_path_factory.mktemp("real")
    args = ["run", "--out", str(root), "--seeds", "1,2", "--runs", "1", "--warmup", "0"]
    assert main([*args, "--contenders", "python-numpy,rust", "--quiet"]) == 0
    (folder,) = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    return folder


@pytest.fixture
def three_machines(real_run: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The real run; its copy on an `arm-node` (another fingerprint); the example folder."""
    arm = tmp_path / "arm-node"
    shutil.copytree(real_run, arm, ignore=shutil.ignore_patterns("plots", "report.html"))
    env = env_of("arm-node", "Neoverse-N1", "NEOVERSEN1", machine="aarch64", logical_cores=64)
    write_env(arm, env)
    return real_run, arm, EXAMPLE


def test_three_machines_merge_with_every_number_from_their_folders(three_machines, tmp_path):
    here, arm, example = three_machines
    out = tmp_path / "merged"
    assert main(["merge", str(here), str(arm), str(example), "--out", str(out), "--quiet"]) == 0
    merged = json.loads((out / "merged.json").read_text())
    env = json.loads((here / "env.json").read_text())
    host = env["hostname"]
    labels = sorted(merged["machines"])
    assert len(labels) == 3 and "arm-node" in labels
    here_label = next(
        x
        for x in labels
        if x != "arm-node" and merged["machines"][x]["commit"] == env["git"]["commit"]
    )
    assert here_label.startswith(host)
    checked = check_single_folder_machine(merged, here_label, here)
    checked += check_single_folder_machine(merged, "arm-node", arm)
    assert checked >= 40
    assert merged["recomputed"] == [str(example)]
    assert merged["machines"]["arm-node"]["simd"] == "NEON"
    assert merged["machines"][here_label]["simd"] == env["simd"]
    summary = (out / "summary.md").read_text()
    assert check_summary_cells(summary, merged) == 3
    (group,) = merged["groups"]
    rust = [p for p in group["pairs"] if p["contender"] == "rust"]
    answer = group["answer"]
    assert answer["machines"] == 3 and answer["pairs"] == 3
    assert answer["ratio_low"] == min(p["ratio"] for p in rust)
    assert answer["ratio_high"] == max(p["ratio"] for p in rust)
    assert answer["faster"] == sum(p["verdict"] == "faster" for p in rust)


def test_two_folders_of_one_machine_pool_into_one_row(real_run, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(real_run, twin)
    result = merge([real_run, twin])
    (group,) = result.groups
    (row,) = group.pairs
    own = read_analysis(real_run).to_dict()["comparisons"][0]
    assert len(group.machines) == 1 and row.folders == 2
    assert row.n == 2 * own["n"]
    assert math.isclose(row.ratio, own["ratio"], rel_tol=1e-12)
    assert row.folder_ratios == [own["ratio"], own["ratio"]]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_merged_page_loads_in_chromium_with_every_image(three_machines, tmp_path):
    out = tmp_path / "merged"
    assert main(["merge", *map(str, three_machines), "--out", str(out), "--quiet"]) == 0
    assert probe(out / "report.html", tmp_path) == {"errors": [], "images": 3, "broken": []}
