"""Two results folders side by side: each contender's speed relative to its own reference."""

import json

from data.results_factory import DEFAULT_CONTENDERS, FakeContender, FakeRun, write_results

from harness.__main__ import main
from harness.model.tables import RunRecord, write_rows
from harness.presentation.compare import compare


def _slower_rust(factor):
    return tuple(
        FakeContender(c.name, c.implementation, train=c.train * factor, load=c.load)
        if c.name == "rust"
        else c
        for c in DEFAULT_CONTENDERS
    )


def _line(text, name):
    return next(line for line in text.splitlines() if line.startswith(f"{name} "))


def test_a_significant_slowdown_is_a_regression_with_exit_status_1(tmp_path):
    a = write_results(tmp_path / "a")
    b = write_results(tmp_path / "b", FakeRun(contenders=_slower_rust(1.3), random_seed=8))
    text, status = compare(a, b)
    assert status == 1
    rust = _line(text, "rust")
    assert "REGRESSION" in rust and "relative" in rust and "2.67 -> 2." in rust
    assert "reference (raw: drift included)" in _line(text, "python-numpy")


def test_a_speedup_is_an_improvement_and_exits_0(tmp_path):
    a = write_results(tmp_path / "a", FakeRun(contenders=_slower_rust(1.3)))
    b = write_results(tmp_path / "b", FakeRun(random_seed=8))
    text, status = compare(a, b)
    assert status == 0
    assert "improvement" in _line(text, "rust")


def test_machine_drift_cancels_in_the_relative_change_but_shows_in_the_raw_one(tmp_path):
    a = write_results(tmp_path / "a")
    slow_machine = FakeRun(round_factors={1: 1.2, 2: 1.2, 3: 1.2}, random_seed=9)
    b = write_results(tmp_path / "b", slow_machine)
    text, status = compare(a, b)
    assert status == 0
    rust = _line(text, "rust")
    assert "no significant change" in rust or "within A/A noise" in rust
    assert "+20." in rust or "+19." in rust  # the raw change, drift included


def test_identical_code_measured_twice_is_no_change(tmp_path):
    a = write_results(tmp_path / "a", FakeRun(random_seed=1))
    b = write_results(tmp_path / "b", FakeRun(random_seed=2))
    text, status = compare(a, b)
    assert status == 0
    assert "REGRESSION" not in text and "improvement" not in text


def test_no_usable_runs_in_b_fails_the_gate(tmp_path):
    a = write_results(tmp_path / "a")
    broken = (DEFAULT_CONTENDERS[0], FakeContender("rust", "rust", fail=True))
    b = write_results(tmp_path / "b", FakeRun(contenders=broken))
    text, status = compare(a, b)
    assert status == 1 and "NO RUNS in B" in _line(text, "rust")
    empty = write_results(tmp_path / "empty")
    write_rows(empty / "tables" / "runs.csv", RunRecord, [])
    text, status = compare(a, empty)
    assert status == 1 and "NO RUNS in B" in _line(text, "python-numpy")
    assert "NO RUNS in B" in _line(text, "rust")


def test_contenders_in_one_folder_only_are_listed(tmp_path):
    a = write_results(tmp_path / "a")
    extra = (*DEFAULT_CONTENDERS, FakeContender("rust-2t", "rust", threads=2))
    b = write_results(tmp_path / "b", FakeRun(contenders=extra))
    text, status = compare(a, b)
    assert "only in B" in _line(text, "rust-2t")
    assert status == 0
    text, status = compare(b, a)
    assert status == 1 and "NO RUNS in B" in _line(text, "rust-2t")


def test_a_missing_folder_is_a_one_line_error_with_exit_status_2(tmp_path, capsys):
    a = write_results(tmp_path / "a")
    assert main(["compare", str(a), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope: not a results folder" in err
    assert len(err.strip().splitlines()) == 1


NUMPY2 = FakeContender("python-numpy@2", "python-numpy", threads=2, startup=0.15, load=0.2)
RUST2 = FakeContender("rust@2", "rust", threads=2, train=0.018, eval=0.007)


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_folders_of_different_specs_or_machines_are_refused_unless_asked(tmp_path, capsys):
    a = write_results(tmp_path / "a")
    b = write_results(tmp_path / "b", FakeRun(random_seed=8))
    _edit_json(b / "spec.json", batch_size=9)  # another workload
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert "ran on different specs" in err and "--allow-different" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["compare", str(a), str(b), "--allow-different"]) == 0
    (b / "spec.json").write_text((a / "spec.json").read_text())
    _edit_json(b / "env.json", cpu_model="Another CPU")
    assert main(["compare", str(a), str(b)]) == 2
    assert "ran on different machines" in capsys.readouterr().err


def test_a_reference_is_never_judged_against_another_reference(tmp_path):
    two = (*DEFAULT_CONTENDERS, NUMPY2, RUST2)
    a = write_results(tmp_path / "a", FakeRun(contenders=two))
    b = write_results(tmp_path / "b", FakeRun(contenders=two, random_seed=8))
    text, status = compare(a, b)
    assert status == 0
    assert "reference (raw: drift included)" in _line(text, NUMPY2.name)
    assert _line(text, RUST2.name).split()[1] == NUMPY2.name


def test_a_contender_whose_verdict_is_withheld_in_either_folder_is_unknown_not_changed(tmp_path):
    a = write_results(tmp_path / "a")
    noise = {"other_share": 1.5, "busiest": []}  # the machine was busy while B measured
    b = write_results(
        tmp_path / "b", FakeRun(contenders=_slower_rust(1.3), outcome={"noise": noise})
    )
    text, status = compare(a, b)
    assert status == 0  # not a regression: B cannot carry a verdict
    assert "unknown (unreliable in" in _line(text, "rust")
