"""The cheat suite (issue 18): every cheat of tests/cheats/ in one real harness run, none judged.

Each cheat passes parity (it is honest under --max-steps) and would win without the harness's
integrity checks (README: "what the harness vouches for"). Here each must end with an integrity
status other than "ok", naming one of the reasons its cheat leaves a trace of, with its
like-for-like verdict "not_comparable", out of the headline, and named in summary.md and
report.html. The honest built-ins (python-numpy, rust) run alongside and must pass every check.

One run serves every test: mnist-mini, seed 1, a warm-up round (which fills cheat-cache's cache)
and 2 timed rounds, all at 1 thread.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import HYPERFINES, ROOT

pytestmark = pytest.mark.slow

CHEATS_FILE = ROOT / "tests" / "cheats" / "contenders.json"
HONEST = ("python-numpy", "rust")
# cheat -> the integrity codes that may name it (any one will do)
CAUGHT_BY = {
    "cheat-detach": {"left_running", "ended_after_clock", "no_end_at_exit"},
    "cheat-cache": {"too_fast", "ended_after_clock", "nonce", "stale_model"},
    "cheat-no-model": {"no_model"},
    "cheat-init-model": {"referee_disagrees"},
    "cheat-lr": {"trajectory", "fewer_epochs"},
    "cheat-test-tune": {"trajectory", "fewer_epochs"},
    "cheat-eval-subset": {"partial_eval", "referee_disagrees", "trajectory", "fewer_epochs"},
}
CHEATS = (*CAUGHT_BY, "cheat-threads")
RUN_TIMEOUT = 900.0  # seconds; measured: 197 on the shared 2-core VM at load 8-12


@pytest.fixture(scope="session")
def cheated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The results folder of one `harness run` of every cheat beside the honest built-ins."""
    hyperfine = HYPERFINES["2.0"]
    if not hyperfine.exists():
        pytest.skip(f"hyperfine 2.0 not installed at {hyperfine}")
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed (the rust contender is built by prepare)")
    out = tmp_path_factory.mktemp("cheats")
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_CONTENDERS_FILE"}
    env |= {"HYPERFINE": str(hyperfine), "MLP_CHEAT_CACHE": str(out / "cheat-cache")}
    argv = [sys.executable, "-m", "harness", "run", "--out", str(out / "results"),
            "--contenders-file", str(CHEATS_FILE), "--contenders", ",".join((*HONEST, *CHEATS)),
            "--seeds", "1", "--runs", "2", "--warmup", "1", "--quiet"]  # fmt: skip
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: some contender failed
    return (out / "results" / "latest").resolve()  # the run, once its report is written


def analysis(run_dir: Path) -> dict[str, Any]:
    """analysis.json, as written by the analyze stage."""
    return json.loads((run_dir / "analysis.json").read_text(encoding="utf-8"))


def summary_of(run_dir: Path, name: str) -> dict[str, Any]:
    """The contender's summary in analysis.json."""
    (found,) = [c for c in analysis(run_dir)["contenders"] if c["name"] == name]
    return found


def verdict(run_dir: Path, name: str) -> str:
    """The contender's like-for-like verdict (against python-numpy at its thread count)."""
    (found,) = [c for c in analysis(run_dir)["comparisons"] if c["contender"] == name]
    return found["verdict"]


def headline(run_dir: Path) -> str | None:
    """The contender the headline is about (a name, or a record naming one), None for none."""
    value = analysis(run_dir)["headline"]
    return value.get("contender") if isinstance(value, dict) else value


def unescaped(text: str) -> str:
    """Markdown text without its backslash escapes (process\\_api -> process_api)."""
    return text.replace("\\", "")


def assert_caught(run_dir: Path, name: str) -> None:
    """Not ok for one of its cheat's reasons, not comparable, no headline, named in reports."""
    integrity = summary_of(run_dir, name)["integrity"]
    assert integrity["status"] in ("invalid", "not_comparable"), integrity
    reasons = [r for r in integrity["reasons"] if r["code"] in CAUGHT_BY[name]]
    assert reasons, f"{name}: caught for {integrity['reasons']}, expected one of {CAUGHT_BY[name]}"
    assert all(r["runs"] >= 1 and r["detail"] for r in reasons)
    assert verdict(run_dir, name) == "not_comparable"
    assert headline(run_dir) != name
    words = [r["code"] for r in reasons] + [r["detail"] for r in reasons]
    lines = [unescaped(line) for line in (run_dir / "summary.md").read_text().splitlines()]
    named = [line for line in lines if name in line and "not comparable" in line]
    assert any(w in line for line in named for w in words), (name, words, named)
    report = html.unescape((run_dir / "report.html").read_text())
    assert name in report and any(w in report for w in words), (name, words)


def test_a_contender_that_detaches_its_trainer_is_invalid(cheated: Path) -> None:
    assert_caught(cheated, "cheat-detach")


def test_a_contender_that_replays_a_cached_run_is_invalid(cheated: Path) -> None:
    assert_caught(cheated, "cheat-cache")


def test_a_contender_that_saves_no_model_is_invalid(cheated: Path) -> None:
    assert_caught(cheated, "cheat-no-model")


def test_a_contender_that_saves_its_untrained_model_is_invalid(cheated: Path) -> None:
    assert_caught(cheated, "cheat-init-model")


def test_a_contender_that_raises_its_learning_rate_after_parity_is_not_comparable(
    cheated: Path,
) -> None:
    assert_caught(cheated, "cheat-lr")


def test_a_contender_that_trains_on_the_test_set_is_not_comparable(cheated: Path) -> None:
    assert_caught(cheated, "cheat-test-tune")


def test_a_contender_that_scores_a_subset_of_the_test_set_is_not_comparable(
    cheated: Path,
) -> None:
    assert_caught(cheated, "cheat-eval-subset")


def test_a_contender_running_more_threads_than_declared_is_flagged_or_not_faster(
    cheated: Path,
) -> None:
    integrity = summary_of(cheated, "cheat-threads")["integrity"]
    if integrity["status"] != "ok":
        assert "threads_exceeded" in {r["code"] for r in integrity["reasons"]}, integrity
        assert verdict(cheated, "cheat-threads") == "not_comparable"
    else:  # held to the CPUs it declared: its extra thread buys nothing
        assert verdict(cheated, "cheat-threads") != "faster"


def test_no_cheat_reaches_the_headline(cheated: Path) -> None:
    assert headline(cheated) not in CHEATS


@pytest.mark.parametrize("name", HONEST)
def test_the_honest_builtins_pass_every_check(cheated: Path, name: str) -> None:
    integrity = summary_of(cheated, name)["integrity"]
    assert integrity["status"] == "ok" and not integrity["reasons"], integrity
    if name != "python-numpy":  # the reference has no comparison of its own
        assert verdict(cheated, name) != "not_comparable"
