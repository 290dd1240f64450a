"""Stage 3: time every (contender, seed) in interleaved rounds, one hyperfine call per process.

hyperfine runs all runs of one command before the next (hyperfine issue #21), so a slow spell
of a shared machine lands on one contender. Here, after the warm-ups, each round runs every
(contender, seed) once, in an order shuffled per round from `Manifest.shuffle_seed`; hyperfine
still times each process (`--runs 1`, its export kept in hyperfine/). Because every process
is its own hyperfine call, the harness knows when it started (`started_at`), which metrics
run_id it wrote (measure.jsonl, the journal), and a stop loses at most the one in flight.

hyperfine discards the benchmarked commands' stderr, so a (contender, seed) that exited
non-zero is run once more outside hyperfine, with its metrics and model sent to a scratch
folder, to record its exit status, stderr tail and reason (stderr/<c>/seed-<s>.txt).
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.hyperfine import merge_exports, parse_export
from harness.progress import Watcher
from harness.records import (
    ContenderEntry,
    ContenderOutcome,
    Failure,
    Manifest,
    now_iso,
    read_manifest,
    read_outcome,
    write_outcome,
)
from harness.stream import end_status, read_stream

STDERR_TAIL_LINES = 20  # lines of a failing command's stderr kept in outcome.json
EXIT_REASONS = {1: "target not reached", 2: "bad input", 3: "diverged"}  # CONTRACT.md
JOURNAL = "measure.jsonl"
EXPORTS = "hyperfine"


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while measuring; every finished process is kept."""


@dataclass(frozen=True)
class Job:
    """One process to time: a contender on a seed, in a round (0 = warm-up)."""

    contender: ContenderEntry
    seed: int
    round: int
    warmup: bool

    @property
    def export(self) -> str:
        """The hyperfine export's path in the folder."""
        kind = "warmup" if self.warmup else "round"
        return f"{EXPORTS}/{kind}-{self.round:03d}-{self.contender.name}-seed-{self.seed}.json"


def schedule(manifest: Manifest, round_number: int, warmup: bool) -> list[Job]:
    """Every (contender, seed) once, shuffled by a generator seeded from the manifest.

    A warm-up round runs each contender once, on the first seed: it loads the binaries, the
    interpreter and the data into the page cache alike for all; more would only cost time.
    """
    seeds = manifest.seeds[:1] if warmup else manifest.seeds
    jobs = [Job(c, s, round_number, warmup) for c in manifest.contenders for s in seeds]
    rng = random.Random(f"{manifest.shuffle_seed}:{'w' if warmup else 'r'}:{round_number}")
    rng.shuffle(jobs)
    return jobs


def hyperfine_argv(hyperfine: str, job: Job, run_dir: Path) -> list[str]:
    """One hyperfine call timing one process: -N, --runs 1, the seed as a parameter."""
    argv = job.contender.argv
    command = argv if isinstance(argv, str) else shlex.join(argv)
    return [
        hyperfine,
        "-N",
        "--ignore-failure",
        "--style",
        "none",
        "--runs",
        "1",
        "--export-json",
        str(run_dir / job.export),
        "-n",
        job.contender.name,
        "-L",
        "seed",
        str(job.seed),
        command,
    ]


def _run_ids(path: Path) -> list[str]:
    """run_ids of the processes in a metrics file, in order (lenient)."""
    return [p.run_id for p in read_stream(path, strict=False).processes] if path.is_file() else []


def run_job(hyperfine: str, job: Job, run_dir: Path) -> dict:
    """Time one process; its journal entry. Interrupted on Ctrl-C/SIGTERM (export removed)."""
    metrics = run_dir / "metrics" / job.contender.name / f"seed-{job.seed}.jsonl"
    before = set(_run_ids(metrics))
    export = run_dir / job.export
    started = now_iso()
    try:
        proc = subprocess.Popen(
            hyperfine_argv(hyperfine, job, run_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,  # hyperfine's "Ignoring non-zero exit code" is ours to say
            text=True,
            errors="replace",
            start_new_session=True,  # the harness forwards signals itself, then waits
        )
    except OSError as exc:
        raise HarnessError(f"{hyperfine}: cannot run hyperfine: {exc.strerror}") from exc
    try:
        _, stderr = proc.communicate()
        status = proc.returncode
    except (KeyboardInterrupt, Interrupted):
        _stop(proc)
        export.unlink(missing_ok=True)  # the process in flight is lost, nothing else
        raise Interrupted from None
    if not export.is_file():
        said = " ".join(stderr.split())[-300:]
        raise HarnessError(
            f"{hyperfine}: exited with status {status} without writing {export}: {said}"
        )
    measured = parse_export(export).results[0].measurements
    new = [r for r in _run_ids(metrics) if r not in before]
    return {
        "warmup": job.warmup,
        "round": job.round,
        "contender": job.contender.name,
        "seed": job.seed,
        "started_at": started,
        "export": job.export,
        "run_id": new[-1] if new else None,
        "exit_code": measured[0].exit_code if measured else None,
        "wall_seconds": measured[0].wall_seconds if measured else None,
    }


def _stop(proc: subprocess.Popen) -> None:
    """Stop hyperfine and the contender it runs (their own process group)."""
    for sig, wait in ((signal.SIGINT, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def read_journal(run_dir: Path) -> list[dict[str, Any]]:
    """measure.jsonl: one entry per finished process (a torn last line is ignored)."""
    path = run_dir / JOURNAL
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _append(run_dir: Path, entry: dict[str, Any]) -> None:
    with (run_dir / JOURNAL).open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(entry) + "\n")


# (journal, rounds done) -> (why stop: a code, "" to go on; the precision reached or None)
StopRule = Callable[[list[dict[str, Any]], int], tuple[str, float | None]]


def measure(
    run_dir: Path,
    log: Callable[[str], None] = print,
    stop_rule: StopRule | None = None,
    watch: Watcher | None = None,
) -> bool:
    """Warm-ups, then rounds until the manifest's count (or stop_rule says stop).

    Writes hyperfine/*.json, measure.jsonl, a merged hyperfine.json and outcome.json as it
    goes. Returns True when every timed process exited 0; raises Interrupted on a stop.
    watch (harness.progress) hears of each process before and after it runs.
    """
    manifest = read_manifest(run_dir)
    hyperfine = str(manifest.hyperfine["path"])
    for c in manifest.contenders:
        (run_dir / "metrics" / c.name).mkdir(parents=True, exist_ok=True)
        (run_dir / "models" / c.name).mkdir(parents=True, exist_ok=True)
    (run_dir / EXPORTS).mkdir(exist_ok=True)
    outcome = replace(read_outcome(run_dir), started=now_iso())
    write_outcome(run_dir, outcome)
    journal = read_journal(run_dir)
    reason, rounds, reached = "", 0, None
    try:
        for w in range(1, manifest.warmup + 1):
            for job in schedule(manifest, w, warmup=True):
                _append(run_dir, _watched(watch, hyperfine, job, run_dir))
        while not reason:
            rounds += 1
            entries = []
            for job in schedule(manifest, rounds, warmup=False):
                entries.append(_watched(watch, hyperfine, job, run_dir))
                _append(run_dir, entries[-1])  # journaled at once: a stop keeps it
            journal += entries
            _merge(run_dir)
            log(_round_line(rounds, entries))
            write_outcome(run_dir, replace(outcome, rounds_done=rounds))
            if stop_rule is not None:
                reason, reached = stop_rule(journal, rounds)
            elif rounds >= manifest.runs:
                reason = "rounds"
    except Interrupted:
        _merge(run_dir)
        write_outcome(
            run_dir,
            replace(outcome, rounds_done=rounds - 1, finished=now_iso(), interrupted=True),
        )
        raise
    outcomes = failures(manifest, read_journal(run_dir), run_dir, log)
    write_outcome(
        run_dir,
        replace(
            outcome,
            rounds_done=rounds,
            stop_reason=reason,
            precision_reached=reached,
            outcomes=outcomes,
        ),
    )
    return all(o.status == "ok" for o in outcomes.values())


def _watched(watch: Watcher | None, hyperfine: str, job: Job, run_dir: Path) -> dict:
    """run_job, told to the watcher (harness.progress) before and after."""
    if watch is not None:
        watch.before(job)
    entry = run_job(hyperfine, job, run_dir)
    if watch is not None:
        watch.after(job, entry)
    return entry


def _round_line(number: int, entries: list[dict[str, Any]]) -> str:
    """`round 2: rust s1 2.31 s, python-numpy s1 3.40 s (exit 1), ...`"""
    parts = []
    for e in entries:
        wall = "n/a" if e["wall_seconds"] is None else f"{e['wall_seconds']:.2f} s"
        bad = "" if e["exit_code"] == 0 else f" (exit {e['exit_code']})"
        parts.append(f"{e['contender']} s{e['seed']} {wall}{bad}")
    return f"  round {number}: " + ", ".join(parts)


def _merge(run_dir: Path) -> None:
    """hyperfine.json: every timed process's export in one file, in the order they ran."""
    files = [run_dir / e["export"] for e in read_journal(run_dir) if not e["warmup"]]
    merge_exports([f for f in files if f.is_file()], run_dir / "hyperfine.json")


def reason(exit_code: int | None, status: str | None) -> str:
    """Why a command failed, in words, from its exit status and its own end event."""
    if exit_code is None:
        return "crashed (no exit status recorded)"
    if exit_code < 0:
        return f"crashed (killed by signal {-exit_code})"
    if exit_code == 1 and status != "max_epochs":
        return "crashed (exit 1 without a max_epochs end event)"
    return EXIT_REASONS.get(exit_code, f"crashed (exit {exit_code})")


def rerun_failure(contender: ContenderEntry, seed: str, run_dir: Path, codes: list) -> Failure:
    """Run one failing (contender, seed) again outside hyperfine; keep its stderr tail."""
    argv = contender.argv if isinstance(contender.argv, list) else shlex.split(contender.argv)
    with tempfile.TemporaryDirectory(prefix="harness-rerun-") as scratch:
        metrics = Path(scratch) / "metrics.jsonl"
        model = Path(scratch) / "model.safetensors"
        argv = [a.replace("{seed}", seed) for a in _redirect(argv, metrics, model)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, errors="replace")
            code, stderr = done.returncode, done.stderr
        except OSError as exc:
            code, stderr = 127, f"cannot run {argv[0]}: {exc.strerror}"
        status = end_status(metrics)
    path = run_dir / "stderr" / contender.name / f"seed-{seed}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stderr, encoding="utf-8")
    tail = "\n".join(stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:])
    return Failure(seed, codes, code, reason(code, status), tail, str(path.relative_to(run_dir)))


def _redirect(argv: list[str], metrics: Path, model: Path) -> list[str]:
    """argv with the values of --metrics-out and --save-model replaced."""
    out = list(argv)
    for flag, value in (("--metrics-out", metrics), ("--save-model", model)):
        if flag in out:
            out[out.index(flag) + 1] = str(value)
    return out


def failures(
    manifest: Manifest, journal: list[dict[str, Any]], run_dir: Path, log: Callable[[str], None]
) -> dict[str, ContenderOutcome]:
    """Per contender: ok, or failed with each failing seed's exit codes and stderr tail."""
    result = {}
    for c in manifest.contenders:
        timed = [e for e in journal if e["contender"] == c.name and not e["warmup"]]
        if not timed:
            result[c.name] = ContenderOutcome("not measured")
            continue
        found = []
        for seed in manifest.seeds:
            codes = [e["exit_code"] for e in timed if e["seed"] == seed]
            if codes and any(code != 0 for code in codes):
                log(f"  {c.name} seed {seed}: exit codes {codes}; running it once more for stderr")
                found.append(rerun_failure(c, str(seed), run_dir, codes))
        result[c.name] = ContenderOutcome("failed" if found else "ok", found)
    return result
