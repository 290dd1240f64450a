"""Two results folders side by side."""

from data.results_factory import DEFAULT_CONTENDERS, FakeContender, FakeRun, write_results

from harness.compare import compare


def _slower_rust(factor):
    return tuple(
        FakeContender(c.name, c.implementation, train=c.train * factor, load=c.load)
        if c.name == "rust"
        else c
        for c in DEFAULT_CONTENDERS
    )


def test_a_significant_slowdown_is_a_regression_with_exit_status_1(tmp_path):
    a = write_results(tmp_path / "a")
    b = write_results(tmp_path / "b", FakeRun(contenders=_slower_rust(1.3)))
    text, status = compare(a, b)
    assert status == 1
    rust = next(line for line in text.splitlines() if line.startswith("rust "))
    assert "REGRESSION" in rust and "+" in rust
    numpy = next(line for line in text.splitlines() if line.startswith("python-numpy"))
    assert "no significant change" in numpy


def test_a_speedup_is_an_improvement_and_exits_0(tmp_path):
    a = write_results(tmp_path / "a", FakeRun(contenders=_slower_rust(1.3)))
    b = write_results(tmp_path / "b")
    text, status = compare(a, b)
    assert status == 0
    assert "improvement" in text


def test_contenders_in_one_folder_only_are_listed(tmp_path):
    a = write_results(tmp_path / "a")
    extra = (*DEFAULT_CONTENDERS, FakeContender("rust-2t", "rust", threads=2))
    b = write_results(tmp_path / "b", FakeRun(contenders=extra))
    text, status = compare(a, b)
    assert "only in B" in next(line for line in text.splitlines() if "rust-2t" in line)
    assert status == 0
