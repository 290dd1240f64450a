"""Stage 2: one hyperfine invocation over every (contender, seed); failures explained.

hyperfine discards the benchmarked commands' stderr (its `--output=<FILE>` option, in 1.15 and
2.0 alike, captures stdout only and truncates it every run), so a (contender, seed) whose exit
status was non-zero is run once more outside hyperfine, with its metrics and model sent to a
scratch folder, to record its exit status, stderr tail and reason in stderr/<c>/seed-<s>.txt.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.hyperfine import parse_export
from harness.results import now_iso, read_json, update_json

STDERR_TAIL_LINES = 20  # lines of a failing command's stderr kept in run.json
EXIT_REASONS = {1: "target not reached", 2: "bad input", 3: "diverged"}  # CONTRACT.md


class Interrupted(Exception):
    """Ctrl-C during measure; the partial results folder is kept."""


def hyperfine_argv(run: dict[str, Any], run_dir: Path) -> list[str]:
    """The one hyperfine command line: -N, -L seed, warmup, runs, JSON export, names."""
    seeds = ",".join(str(s) for s in run["seeds"])
    argv = [
        run["hyperfine"]["path"],
        "-N",
        "--ignore-failure",
        "--warmup",
        str(run["warmup"]),
        "--runs",
        str(run["runs"]),
        "--export-json",
        str(run_dir / "hyperfine.json"),
        "-L",
        "seed",
        seeds,
    ]
    # hyperfine orders benchmarks parameter-major (every command for seed 1, then seed 2...)
    # and wants one name per benchmark, in that order.
    for _seed in run["seeds"]:
        for c in run["contenders"]:
            argv += ["-n", c["name"]]
    argv += [shlex.join(c["argv"]) for c in run["contenders"]]
    return argv


def _make_output_dirs(run: dict[str, Any], run_dir: Path) -> None:
    """metrics/<c>/ and models/<c>/ exist before any contender writes there."""
    for c in run["contenders"]:
        (run_dir / "metrics" / c["name"]).mkdir(parents=True, exist_ok=True)
        (run_dir / "models" / c["name"]).mkdir(parents=True, exist_ok=True)


def run_hyperfine(argv: list[str], quiet: bool) -> int:
    """Run hyperfine (its progress bar on the terminal); on Ctrl-C stop it, raise Interrupted."""
    out = subprocess.DEVNULL if quiet else None
    try:
        proc = subprocess.Popen(argv, stdout=out)
    except OSError as exc:
        raise HarnessError(f"{argv[0]}: cannot run hyperfine: {exc.strerror}") from exc
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # hyperfine shares our process group and usually got the signal too; make sure.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise Interrupted from None


def _end_status(metrics: Path) -> str | None:
    """The status of the last end event in a metrics file, if any."""
    status = None
    try:
        lines = metrics.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("event") == "end":
            status = event.get("status")
    return status


def reason(exit_code: int | None, end_status: str | None) -> str:
    """Why a command failed, in words, from its exit status and its own end event."""
    if exit_code is None:
        return "crashed (no exit status recorded)"
    if exit_code < 0:
        return f"crashed (killed by signal {-exit_code})"
    if exit_code == 1 and end_status != "max_epochs":
        return "crashed (exit 1 without a max_epochs end event)"
    return EXIT_REASONS.get(exit_code, f"crashed (exit {exit_code})")


def rerun_failure(contender: dict[str, Any], seed: str, run_dir: Path) -> dict[str, Any]:
    """Run one failing (contender, seed) again outside hyperfine; keep its stderr tail."""
    with tempfile.TemporaryDirectory(prefix="harness-rerun-") as scratch:
        metrics = Path(scratch) / "metrics.jsonl"
        argv = [
            a.replace("{seed}", seed)
            for a in _redirect(contender["argv"], metrics, Path(scratch) / "model.safetensors")
        ]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, errors="replace")
            code, stderr = done.returncode, done.stderr
        except OSError as exc:
            code, stderr = 127, f"cannot run {argv[0]}: {exc.strerror}"
        status = _end_status(metrics)
    path = run_dir / "stderr" / contender["name"] / f"seed-{seed}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stderr, encoding="utf-8")
    tail = "\n".join(stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:])
    return {
        "rerun_exit_code": code,
        "reason": reason(code, status),
        "stderr_tail": tail,
        "stderr_file": str(path.relative_to(run_dir)),
    }


def _redirect(argv: list[str], metrics: Path, model: Path) -> list[str]:
    """argv with the values of --metrics-out and --save-model replaced."""
    out = list(argv)
    for flag, value in (("--metrics-out", metrics), ("--save-model", model)):
        if flag in out:
            out[out.index(flag) + 1] = str(value)
    return out


def outcomes(run: dict[str, Any], run_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Per contender: ok, or failed with each failing seed's exit codes and stderr tail."""
    export_path = run_dir / "hyperfine.json"
    if not export_path.exists():
        return {c["name"]: {"status": "not measured"} for c in run["contenders"]}
    export = parse_export(export_path)
    by_name = {c["name"]: c for c in run["contenders"]}
    result: dict[str, Any] = {name: {"status": "ok", "failures": []} for name in by_name}
    for r in export.results:
        codes = [m.exit_code for m in r.measurements]
        if r.name not in by_name or all(code == 0 for code in codes):
            continue
        seed = r.parameters.get("seed", "")
        log(f"  {r.name} seed {seed}: exit codes {codes}; running it once more for its stderr")
        failure = {"seed": seed, "exit_codes": codes}
        failure.update(rerun_failure(by_name[r.name], seed, run_dir))
        entry = result[r.name]
        entry["status"] = "failed"
        entry["failures"].append(failure)
        # Summary fields the report shows: the first failure's tail, every reason.
        entry.setdefault("stderr_tail", failure["stderr_tail"])
        entry["exit_codes"] = sorted({*entry.get("exit_codes", []), *(c for c in codes if c)})
        reasons = {f"seed {f['seed']}: {f['reason']}" for f in entry["failures"]}
        entry["note"] = "; ".join(sorted(reasons))
    measured = {r.name for r in export.results}
    for name in by_name:
        if name not in measured:
            result[name] = {"status": "not measured"}
    return result


def measure(run_dir: Path, quiet: bool = False, log: Callable[[str], None] = print) -> bool:
    """Time every contender; update run.json; return True when every command exited 0."""
    run = read_json(run_dir / "run.json")
    _make_output_dirs(run, run_dir)
    argv = hyperfine_argv(run, run_dir)
    update_json(run_dir / "run.json", hyperfine_argv=argv)
    try:
        status = run_hyperfine(argv, quiet)
    except Interrupted:
        update_json(run_dir / "run.json", interrupted=True, finished=now_iso())
        raise
    if status != 0 and not (run_dir / "hyperfine.json").exists():
        raise HarnessError(f"{argv[0]}: hyperfine exited with status {status} (see above)")
    results = outcomes(run, run_dir, log)
    update_json(run_dir / "run.json", outcomes=results)
    return all(o.get("status") == "ok" for o in results.values())
