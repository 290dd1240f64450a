"""`harness merge`: folders of several machines -> one report, every number from the inputs."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from merge_support import (
    EXAMPLE,
    check_single_folder_machine,
    check_summary_cells,
    env_of,
    machine_folder,
    write_env,
)

from harness.__main__ import main
from harness.model.analysis import read_analysis
from harness.pooling.merge import merge
from harness.pooling.merge_load import Machine, machine
from harness.pooling.merge_machines import answer, labels

XEON = env_of("node-a", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "SkylakeX")
EPYC = env_of("node-b", "AMD EPYC 7R13 Processor", "Haswell")


def run_merge(*args: object) -> int:
    return main(["merge", *map(str, args), "--quiet"])


@pytest.fixture
def two_machines(tmp_path: Path) -> tuple[Path, Path]:
    fast = machine_folder(tmp_path / "in", "a", XEON, seed=1)
    slow = machine_folder(tmp_path / "in", "b", EPYC, seed=2)
    return fast, slow


def test_each_machine_with_one_folder_shows_exactly_its_folders_numbers(tmp_path, two_machines):
    a, b = two_machines
    assert run_merge(a, b, "--out", tmp_path / "out") == 0
    merged = json.loads((tmp_path / "out" / "merged.json").read_text())
    assert sorted(merged["machines"]) == ["node-a", "node-b"]
    assert len(merged["groups"]) == 1 and merged["skipped"] == []
    checked = check_single_folder_machine(merged, "node-a", a)
    checked += check_single_folder_machine(merged, "node-b", b)
    assert checked > 100
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert check_summary_cells(summary, merged) == 4  # 2 pairs x 2 machines


def test_folders_of_one_machine_pool_pairs_that_stay_within_each_folder(tmp_path):
    first = machine_folder(tmp_path / "in", "first", XEON, seed=1)
    second = machine_folder(tmp_path / "in", "second", XEON, seed=2, round_noise=0.2)
    result = merge([first, second])
    (group,) = result.groups
    assert [m.label for m in group.machines] == ["node-a"]
    row = next(p for p in group.pairs if p.contender == "rust")
    # By hand: each folder's runs joined on (seed, round), never across folders.
    logs = []
    for folder in (first, second):
        runs = pd.read_csv(folder / "tables" / "runs.csv", dtype={"seed": str})
        ref = runs[runs["contender"] == "python-numpy"]
        other = runs[runs["contender"] == "rust"]
        joined = ref.merge(other, on=["seed", "round"], suffixes=("_r", "_c"))
        logs.append(np.log(joined["wall_seconds_r"] / joined["wall_seconds_c"]))
    d = np.concatenate(logs)
    assert row.n == len(d) == 18 and row.folders == 2
    assert math.isclose(row.ratio, math.exp(d.mean()), rel_tol=1e-12)
    from scipy import stats

    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert math.isclose(row.ci_low, math.exp(d.mean() - half), rel_tol=1e-9)
    assert math.isclose(row.ci_high, math.exp(d.mean() + half), rel_tol=1e-9)
    own = [read_analysis(f).to_dict()["comparisons"] for f in (first, second)]
    assert row.folder_ratios == [
        next(c for c in o if c["contender"] == "rust")["ratio"] for o in own
    ]
    # The pooled medians are those of both folders' runs together.
    runs = pd.concat(pd.read_csv(f / "tables" / "runs.csv") for f in (first, second))
    rust = next(c for c in group.contenders if c.contender == "rust")
    assert rust.median_seconds == float(
        np.median(runs[runs["contender"] == "rust"]["wall_seconds"])
    )


def test_a_different_workload_is_its_own_group_never_pooled(tmp_path, two_machines):
    a, b = two_machines
    other = machine_folder(tmp_path / "in", "c", XEON, seed=3, target=0.8)
    (other / "spec.json").write_text('{"spec_version": 1, "target_accuracy": 0.8}\n')
    result = merge([a, b, other])
    assert len(result.groups) == 2
    big, small = result.groups
    assert [m.folders for m in small.machines] == [[str(other)]]
    assert small.workload.target == 0.8 and big.workload.target is None
    assert {m.label for m in big.machines} == {"node-a", "node-b"}
    assert all(p.folders == 1 for p in big.pairs + small.pairs)


def test_bad_folders_are_skipped_with_one_line_each_and_the_rest_still_merge(
    tmp_path, two_machines, capsys
):
    a, _ = two_machines
    plain = tmp_path / "in" / "plain"
    plain.mkdir()
    damaged = tmp_path / "in" / "damaged"
    shutil.copytree(a, damaged)
    (damaged / "run.json").write_text('{"schema_version": 2, "contenders": [')
    newer = tmp_path / "in" / "newer"
    shutil.copytree(a, newer)
    data = json.loads((newer / "run.json").read_text())
    (newer / "run.json").write_text(json.dumps({**data, "schema_version": 9}))
    no_env = tmp_path / "in" / "no-env"
    shutil.copytree(a, no_env)
    (no_env / "env.json").unlink()
    out = tmp_path / "out"
    assert run_merge(a, plain, damaged, newer, no_env, "--out", out) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("skipped: ") for line in err)
    assert f"{plain}: not a results folder (no run.json)" in err[0]
    assert f"{damaged}/run.json: not valid JSON (line 1" in err[1]
    assert f"{newer}/run.json: schema_version 9 is not one this harness reads" in err[2]
    assert f"{no_env}/env.json: not found" in err[3]
    merged = json.loads((out / "merged.json").read_text())
    assert merged["inputs"] == 5 and len(merged["skipped"]) == 4
    page = (out / "report.html").read_text()
    assert page.count("<li>skipped: ") == 4


def test_nothing_merged_is_exit_2_with_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_merge(tmp_path / "empty", tmp_path / "missing", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: merge: none of the 2 folders could be merged"
    assert not (tmp_path / "out").exists()


def test_an_output_inside_an_input_or_an_input_twice_is_refused_before_writing(
    tmp_path, two_machines, capsys
):
    a, b = two_machines
    assert run_merge(a, b, "--out", a / "merged") == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --out {a / 'merged'}: inside the input folder {a}; write the merged report "
        "elsewhere"
    )
    assert not (a / "merged").exists()
    assert run_merge(a, b, f"{a}/../{a.name}", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {a}/../{a.name}: given twice (also as {a})")
    assert not (tmp_path / "out").exists()


def test_a_schema_1_folder_is_analysed_in_a_temporary_copy_and_left_untouched(tmp_path):
    before = sorted(p.relative_to(EXAMPLE) for p in EXAMPLE.rglob("*"))
    result = merge([EXAMPLE])
    assert sorted(p.relative_to(EXAMPLE) for p in EXAMPLE.rglob("*")) == before
    assert result.recomputed == [str(EXAMPLE)]
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy)
    assert main(["report", str(copy), "--quiet"]) == 0
    expected = read_analysis(copy).to_dict()["comparisons"][0]
    (row,) = result.groups[0].pairs
    assert (row.contender, row.reference, row.verdict) == ("rust", "python-numpy", "faster")
    assert math.isclose(row.ratio, expected["ratio"], rel_tol=1e-12)
    assert math.isclose(row.ci_low, expected["ci_low"], rel_tol=1e-12)
    m = result.machines["vm"]
    assert (m.cpu_model, m.blas_kernel, m.simd, m.simd_source) == (
        "AMD EPYC", "Haswell", "AVX2", "BLAS kernel",
    )  # fmt: skip


def test_a_results_root_stands_for_its_folders_and_its_latest_link_is_not_counted(
    tmp_path, two_machines
):
    a, b = two_machines
    (a.parent / "latest").symlink_to(a.name)
    result = merge([a.parent])
    assert result.inputs == 2
    assert sorted(f for m in result.groups[0].machines for f in m.folders) == [str(a), str(b)]


def test_the_answer_names_what_the_machines_where_rust_gained_most_share():
    def box(host: str, simd: str, kernel: str, cores: int) -> Machine:
        env = env_of(host, "AMD EPYC", kernel, logical_cores=cores, simd=simd)
        return machine(env)

    machines = {
        "a": box("a", "AVX-512", "SkylakeX", 2),
        "b": box("b", "AVX-512", "SkylakeX", 16),
        "c": box("c", "AVX2", "Haswell", 2),
        "d": box("d", "AVX2", "Haswell", 16),
    }
    from harness.pooling.merge import PairResult

    def pair(label: str, ratio: float, verdict: str) -> PairResult:
        return PairResult(
            label, "rust", "python-numpy", 1, "Rust", "Python", ratio, ratio * 0.9, ratio * 1.1,
            0.01, verdict, 6, True, 1, [ratio], None, None, None, None,
        )  # fmt: skip

    pairs = [
        pair("a", 1.6, "faster"), pair("b", 1.5, "faster"), pair("c", 1.1, "faster"),
        pair("d", 0.97, "inconclusive"), pair("d", 1.2, "faster"),
    ]  # fmt: skip
    a = answer(pairs, machines)
    assert (a.machines, a.faster, a.slower, a.mixed, a.pairs) == (4, 3, 0, 1, 5)
    assert (a.ratio_low, a.ratio_high) == (0.97, 1.6)
    assert a.top == ["a", "b"] and a.compared
    assert a.traits == [("SIMD", "AVX-512"), ("BLAS kernel", "SkylakeX")]
    assert math.isclose(a.scores["d"], math.sqrt(0.97 * 1.2))
    alone = answer(pairs[:1], {"a": machines["a"]})
    assert not alone.compared and alone.traits == []


def test_labels_tell_machines_of_one_host_name_apart():
    one = machine(env_of("vm", "AMD EPYC", "Haswell"))
    two = machine(env_of("vm", "AMD EPYC", "SkylakeX"))
    other = machine(env_of("node", "AMD EPYC", "Haswell"))
    three = machine(
        env_of("vm", "AMD EPYC", "SkylakeX", git={"commit": "77e400b70f", "dirty": False})
    )
    names = labels([one, two, other, three])
    assert names == {
        one: "vm (Haswell kernel, commit 263ec14)",
        two: "vm (SkylakeX kernel, commit 263ec14)",
        three: "vm (SkylakeX kernel, commit 77e400b)",
        other: "node",
    }
    assert labels([one, two]) == {one: "vm (Haswell kernel)", two: "vm (SkylakeX kernel)"}
    assert labels([two, two]) == {two: "vm"}  # the same machine twice is one machine


def test_the_page_says_which_groups_exist_and_embeds_its_figures(tmp_path, two_machines):
    a, b = two_machines
    write_env(b, {**EPYC, "simd": "AVX2", "hostname": "<script>alert(1)</script>"})
    out = tmp_path / "out"
    assert run_merge(a, b, "--out", out) == 0
    page = (out / "report.html").read_text()
    assert page.count('class="headline"') == 1
    assert "Rust was faster than Python at equal threads on 2 of 2 machines" in page
    assert 'id="group-table"' in page and page.count('class="machine-table"') == 1
    assert page.count("data:image/png;base64,") == 3  # forest, fraction, scaling
    assert sorted(p.name for p in (out / "plots").iterdir()) == sorted(
        f"{json.loads((out / 'merged.json').read_text())['groups'][0]['workload']['key']}-{n}.png"
        for n in ("forest", "fraction", "scaling")
    )
    assert "AVX-512 (from the BLAS kernel)" in page and ">AVX2<" in page
    assert ' src="http' not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script>alert(1)&lt;/script>" in (out / "summary.md").read_text()
