"""Robustness, second pass: no hang, no write outside the results folder, no traceback, bounded.

Each test is one case of the adversarial pass (issue 19), with the contract's exit code and one
line. Runs use the fake contenders on the tiny data set (a second or two each).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAKES_FILE, HYPERFINES, run_args, tmpfs

from harness.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch, tiny_data: Path, tmp_path: Path):
    """`harness run` over the tiny data with the fakes and hyperfine 2; (code, stderr, out)."""
    monkeypatch.setenv("HARNESS_CONTENDERS_FILE", str(FAKES_FILE))
    monkeypatch.setenv("HYPERFINE", str(HYPERFINES["2.0"]))
    if not HYPERFINES["2.0"].exists():
        pytest.skip("hyperfine 2.0 not installed in the venv")

    def run(contenders: str, *extra: str, out: Path | None = None, capsys=None):
        out = out or tmp_path / "results"
        code = main(
            [*run_args(out, tiny_data, contenders, "--skip-parity"), "--target", "0.01", *extra]
        )
        return code, out

    return run


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line]
    assert len(lines) == 1, lines
    assert "Traceback" not in text
    return lines[0]


# ---------------------------------------------------------------- options, before any folder


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max-time", "nan", "--precision", "0.05"], "--max-time: expected a finite number"),
        (["--max-time", "inf", "--precision", "0.05"], "--max-time: expected a finite number"),
        (["--timeout", "-1"], "--timeout: expected a finite number of seconds > 0"),
        (["--threads", "2000"], "--threads: expected integers in [1, 1024]"),
        (["--threads", "\uff12"], "--threads: expected integers in [1, 1024]"),  # full-width 2
        (["--contenders", ","], "--contenders: expected contender names"),
        (["--cpus", ""], "--cpus: expected CPU numbers"),
        (["--cpus", "\uff10"], "--cpus: expected CPU numbers"),  # a full-width 0
        (["--cpus", "0", "--contenders", "rust@2"], "--cpus: 1 CPU(s) given, but rust@2 runs 2"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2_before_any_folder_exists(tmp_path, capsys, args, says):
    out = tmp_path / "results"
    code = main(["run", "--out", str(out), "--contenders", "python-numpy", *args])
    assert code == 2
    assert _one_line(capsys.readouterr().err).startswith(f"error: {says}")
    assert not out.exists() or not any(out.iterdir())


def test_a_non_utf8_out_is_refused_before_anything_is_created(tmp_path, capsys):
    out = os.fsdecode(bytes(tmp_path) + b"/res\xff")
    assert main(["run", "--out", out, "--contenders", "python-numpy"]) == 2
    assert "--out:" in _one_line(capsys.readouterr().err)
    assert not Path(out).exists()


def test_a_contender_name_too_long_for_a_file_name_is_refused_in_its_file(tmp_path, capsys):
    mine = tmp_path / "mine.json"
    entry = {"name": "x" * 240, "implementation": "x", "algorithm": "batched", "program": ["true"]}
    mine.write_text(json.dumps({"schema_version": 1, "contenders": [entry]}))
    assert main(["verify", "--contenders-file", str(mine), "--contenders", "python-numpy"]) == 2
    assert "name: expected 1 to 64 letters" in _one_line(capsys.readouterr().err)


def test_a_contenders_file_cannot_replace_a_built_in_reference(tmp_path, capsys, monkeypatch):
    mine = tmp_path / "mine.json"
    entry = {"name": "python-numpy", "implementation": "x", "algorithm": "batched",
             "program": ["true"]}  # fmt: skip
    mine.write_text(json.dumps({"schema_version": 1, "contenders": [entry]}))
    monkeypatch.setenv("HARNESS_CONTENDERS_FILE", str(mine))
    assert main(["run", "--out", str(tmp_path / "r"), "--contenders", "python-numpy"]) == 2
    assert "is built in" in _one_line(capsys.readouterr().err)


# ---------------------------------------------------------------- runs that must go on


def test_a_contender_that_never_ends_is_killed_at_its_timeout_and_the_run_goes_on(quick, capsys):
    begin = time.monotonic()
    code, out = quick("fake-ok,fake-hang", "--timeout", "3")
    assert code == 1 and time.monotonic() - begin < 120
    folder = (out / "latest").resolve()
    outcome = json.loads((folder / "outcome.json").read_text())
    (failure,) = outcome["outcomes"]["fake-hang"]["failures"]
    assert failure["reason"].startswith("timed out after 3 s")
    analysis = json.loads((folder / "analysis.json").read_text())
    hang = next(c for c in analysis["contenders"] if c["name"] == "fake-hang")
    assert hang["integrity"]["reasons"][0]["code"] == "timeout"
    assert outcome["outcomes"]["fake-ok"]["status"] == "ok"


def test_a_background_child_holding_stderr_neither_blocks_nor_outlives_the_run(quick):
    begin = time.monotonic()
    code, out = quick("fake-ok,fake-background")
    assert time.monotonic() - begin < 50  # not the child's 60 s
    analysis = json.loads(((out / "latest") / "analysis.json").read_text())
    bg = next(c for c in analysis["contenders"] if c["name"] == "fake-background")
    assert bg["integrity"]["reasons"][0]["code"] == "left_running"
    assert code == 0


def test_a_program_that_cannot_start_is_one_failed_contender_not_a_lost_run(quick, tmp_path):
    mine = tmp_path / "mine.json"
    entry = {"name": "ghost", "implementation": "x", "algorithm": "batched",
             "program": ["/nonexistent/ghost"]}  # fmt: skip
    mine.write_text(json.dumps({"schema_version": 1, "contenders": [entry]}))
    code, out = quick("fake-ok,ghost", "--contenders-file", str(mine))
    assert code == 1
    folder = (out / "latest").resolve()
    outcome = json.loads((folder / "outcome.json").read_text())
    (failure,) = outcome["outcomes"]["ghost"]["failures"]
    assert failure["reason"] == "cannot run /nonexistent/ghost: No such file or directory"
    assert (folder / "report.html").is_file()


def test_braces_in_the_results_path_reach_the_contender_literally(quick, tmp_path):
    code, out = quick("fake-ok", out=tmp_path / "odd {seed} name")
    assert code == 0
    folder = (out / "latest").resolve()
    assert list((folder / "metrics" / "fake-ok" / "seed-1").glob("round-001.jsonl"))


def test_precision_stops_running_a_contender_that_failed_every_seed_of_a_round(quick):
    code, out = quick("fake-ok,fake-miss", "--precision", "0.01", "--max-time", "300")
    folder = (out / "latest").resolve()
    journal = [json.loads(x) for x in (folder / "measure.jsonl").read_text().splitlines()]
    assert [e["round"] for e in journal if e["contender"] == "fake-miss"] == [1]
    assert json.loads((folder / "outcome.json").read_text())["stop_reason"] == "failed"
    assert code == 1


def test_a_real_folder_named_latest_is_left_alone_after_a_good_run(quick, tmp_path, capsys):
    (tmp_path / "results" / "latest").mkdir(parents=True)
    code, _ = quick("fake-ok")
    assert code == 0
    assert "is not the harness's link" in capsys.readouterr().err
    assert (tmp_path / "results" / "latest").is_dir()


# ---------------------------------------------------------------- damaged folders


def test_report_refuses_to_write_through_a_link_out_of_the_folder(folder, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.png").write_text("keep me")
    shutil.rmtree(folder / "plots")
    (folder / "plots").symlink_to(outside)
    assert main(["report", str(folder), "--recompute", "--quiet"]) == 2
    assert "a symbolic link inside the results folder" in _one_line(capsys.readouterr().err)
    assert (outside / "precious.png").read_text() == "keep me"
    assert [p.name for p in outside.iterdir()] == ["precious.png"]


def test_a_linked_summary_is_refused_not_followed(folder, tmp_path, capsys):
    victim = tmp_path / "victim.md"
    victim.write_text("keep me")
    (folder / "summary.md").unlink()
    (folder / "summary.md").symlink_to(victim)
    assert main(["report", str(folder), "--quiet"]) == 2
    assert victim.read_text() == "keep me"
    _one_line(capsys.readouterr().err)


def test_hyperfine_json_into_a_folder_whose_copies_folder_is_a_link_deletes_nothing(
    tmp_path, capsys
):
    victim_dir = tmp_path / "elsewhere"
    victim_dir.mkdir()
    (victim_dir / "keep.json").write_text("{}")
    out = tmp_path / "out"
    out.mkdir()
    (out / "hyperfine-json").symlink_to(victim_dir)
    export = ROOT.parent / "shared" / "fixtures"
    files = sorted(export.glob("**/*.json")) if export.is_dir() else []
    files = files or sorted((ROOT / "tests" / "data" / "hyperfine-v2").glob("*.json"))
    assert main(["report", "--hyperfine-json", str(files[0]), "--out", str(out)]) == 2
    assert (victim_dir / "keep.json").is_file()
    _one_line(capsys.readouterr().err)


def test_hyperfine_json_into_an_existing_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x")
    files = sorted((ROOT / "tests" / "data" / "hyperfine-v2").glob("*.json"))
    assert main(["report", "--hyperfine-json", str(files[0]), "--out", str(target)]) == 2
    assert "exists and is not a folder" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "damage",
    ["parity-pairs-strings", "journal-without-fields", "huge-time"],
)
def test_a_damaged_file_renders_a_report_without_a_traceback(folder, capsys, damage):
    if damage == "parity-pairs-strings":
        (folder / "parity.json").write_text(
            '{"schema_version": 3, "status": "passed", "pairs": ["x"]}'
        )
    elif damage == "journal-without-fields":
        with (folder / "measure.jsonl").open("a") as f:
            f.write('{"warmup": false, "round": 9}\n{"contender": "fake-ok"}\n')
    else:
        export = next((folder / "hyperfine").glob("round-001-fake-ok-*.json"))
        data = json.loads(export.read_text())
        data["results"][0]["times"] = [1e308]
        data["results"][0]["mean"] = data["results"][0]["median"] = 1e308
        export.write_text(json.dumps(data))
    code = main(["report", str(folder), "--recompute", "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == 0 and (folder / "report.html").is_file()


def test_compare_into_a_closed_pipe_ends_quietly(good_run):
    shell = (
        f"{sys.executable} -m harness compare {good_run} {good_run} | head -c 10 >/dev/null; "
        "echo status=${PIPESTATUS[0]}"
    )
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, cwd=ROOT)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert "status=0" in done.stdout


def test_data_fetch_with_an_unwritable_cache_is_one_line():
    # /proc takes no new folders, whoever asks (root included): as a read-only HOME would
    env = {**os.environ, "XDG_CACHE_HOME": "/proc/mlp-bench-cache", "HOME": "/proc"}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "data", "fetch", "mnist"],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot create the download cache" in _one_line(done.stderr)


def test_sighup_stops_the_run_like_sigterm_and_records_it(tiny_data, tmp_path):
    env = {**os.environ, "HARNESS_CONTENDERS_FILE": str(FAKES_FILE),
           "HYPERFINE": str(HYPERFINES["2.0"])}  # fmt: skip
    quick = run_args(tmp_path / "r", tiny_data, "fake-ok,fake-slow", "--skip-parity")
    argv = [sys.executable, "-m", "harness", *quick, "--runs", "3", "--target", "0.01"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        journals = list((tmp_path / "r").glob("*/measure.jsonl"))
        if journals and journals[0].read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    (folder,) = [p for p in (tmp_path / "r").iterdir() if p.is_dir() and not p.is_symlink()]
    assert json.loads((folder / "outcome.json").read_text())["interrupted"] is True
    assert not [p for p in _children_of(proc.pid)]


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat[stat.rfind(")") + 2 :].split()[1] == str(pid):
                found.append(int(entry.name))
    return found


@pytest.fixture
def full_disk(tmp_path: Path):
    """A tmpfs of 2 MiB, unmounted afterwards (skipped where mounting is not permitted)."""
    with tmpfs(tmp_path / "disk", "2m") as mount:
        yield mount


def test_report_on_a_full_disk_is_one_line_naming_the_file(full_disk, capsys):
    from data.results_factory import write_results

    folder = write_results(full_disk / "run")
    filler = full_disk / "filler"
    with filler.open("wb") as f:  # take every byte left
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    code = main(["report", str(folder), "--recompute", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    line = _one_line(err)
    assert line.startswith(f"error: {folder}/") and line.endswith("No space left on device")
