"""Stage 3: time every (contender, seed) in interleaved rounds, one hyperfine call per process.

hyperfine runs all runs of one command before the next (hyperfine issue #21), so a slow spell
of a shared machine lands on one contender. Here, after the warm-ups, each round runs every
(contender, seed) once, in an order shuffled per round from `Manifest.shuffle_seed`; hyperfine
still times each process (`--runs 1`, its export kept in hyperfine/). Because every process
is its own hyperfine call, the harness knows when it started (`started_at`), which metrics
run_id it wrote (measure.jsonl, the journal), and a stop loses at most the one in flight.

What the harness vouches for, per process (ingest turns these facts into `check` codes):
- fresh outputs: its own empty metrics file and model path (metrics/<c>/seed-<s>/<tag>.jsonl,
  models/<c>/seed-<s>/<tag>.safetensors) and a nonce (MLP_BENCH_NONCE) its start event echoes;
- the clock covers everything: procs runs hyperfine in its own process group as a
  child subreaper, so a descendant still running when the process exited is found, counted
  (`leftovers`) and killed; whether the end event and the model existed at that moment;
- threads as declared: the process runs on as many CPUs as it declares threads;
- a timeout (`--timeout`, else TIMEOUT_FACTOR x the reference's slowest run so far): a process
  that never ends is killed with its group and the run goes on.

hyperfine discards the benchmarked commands' stderr, so a (contender, seed) that exited
non-zero is run once more outside hyperfine, with its metrics and model sent to a scratch
folder, to record its exit status, stderr tail and reason (stderr/<c>/seed-<s>.txt).
"""

from __future__ import annotations

import os
import random
import shlex
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.measurement import noise, procs
from harness.measurement.progress import Watcher
from harness.model.hyperfine import merge_exports, parse_export
from harness.model.journal import append_entry, read_journal
from harness.model.records import (
    ContenderEntry,
    ContenderOutcome,
    Failure,
    Manifest,
    Outcome,
    now_iso,
    read_manifest,
    write_outcome,
)
from harness.model.stream import end_status, read_stream

STDERR_TAIL_LINES = 20  # lines of a failing command's stderr kept in outcome.json ...
STDERR_TAIL_CHARS = 4000  # ... and at most this many characters of them
NONCE_ENV = "MLP_BENCH_NONCE"  # CONTRACT.md: the start event echoes its value as "nonce"
TIMEOUT_FACTOR = 10.0  # a process may run 10x the reference's slowest run so far ...
TIMEOUT_FLOOR = 60.0  # ... but at least this many seconds
TIMEOUT_FIRST = 1800.0  # before the reference has run (it goes first in the warm-up round)
EXIT_REASONS = {1: "target not reached", 2: "bad input", 3: "diverged"}  # CONTRACT.md
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
    def tag(self) -> str:
        """`round-002` or `warmup-001`: names this process's files."""
        return f"{'warmup' if self.warmup else 'round'}-{self.round:03d}"

    @property
    def export(self) -> str:
        """The hyperfine export's path in the folder."""
        return f"{EXPORTS}/{self.tag}-{self.contender.name}-seed-{self.seed}.json"

    @property
    def metrics(self) -> str:
        """This process's own metrics file, relative to the folder."""
        return f"metrics/{self.contender.name}/seed-{self.seed}/{self.tag}.jsonl"

    @property
    def model(self) -> str:
        """This process's own model path, relative to the folder."""
        return f"models/{self.contender.name}/seed-{self.seed}/{self.tag}.safetensors"


def schedule(manifest: Manifest, round_number: int, warmup: bool) -> list[Job]:
    """Every (contender, seed) once, shuffled by a generator seeded from the manifest.

    A warm-up round runs each contender once, on the first seed: it loads the binaries, the
    interpreter and the data into the page cache alike for all; more would only cost time.
    The reference goes first in a warm-up round, so its time bounds every other's timeout.
    """
    seeds = manifest.seeds[:1] if warmup else manifest.seeds
    jobs = [Job(c, s, round_number, warmup) for c in manifest.contenders for s in seeds]
    rng = random.Random(f"{manifest.shuffle_seed}:{'w' if warmup else 'r'}:{round_number}")
    rng.shuffle(jobs)
    if warmup:
        jobs.sort(key=lambda j: j.contender.name != manifest.reference)  # stable: rest shuffled
    return jobs


def job_argv(job: Job, run_dir: Path) -> list[str]:
    """The contender's argv for this process: the seed's initial model, its own metrics and
    model. The values are set by flag, not by replacing `{seed}` in the text, so a folder
    path that holds `{seed}` reaches the contender as it is."""
    argv = job.contender.argv
    argv = shlex.split(argv) if isinstance(argv, str) else list(argv)
    init = run_dir / "init" / f"seed-{job.seed}.safetensors"
    return _redirect(argv, run_dir / job.metrics, run_dir / job.model, init)


def job_cpus(manifest: Manifest, job: Job) -> list[int] | None:
    """The CPUs a process runs on: as many as it declares threads (of --cpus, else all)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = manifest.cpus or sorted(os.sched_getaffinity(0))
    threads = job.contender.threads or len(allowed)
    return allowed[: max(1, threads)]


def hyperfine_argv(hyperfine: str, job: Job, run_dir: Path) -> list[str]:
    """One hyperfine call timing one process: -N, --runs 1, no parameters (argv is literal)."""
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
        shlex.join(job_argv(job, run_dir)),
    ]


def timeout_for(manifest: Manifest, journal: list[dict[str, Any]]) -> float:
    """--timeout, else TIMEOUT_FACTOR x the reference's slowest finished run (TIMEOUT_FLOOR at
    least), else TIMEOUT_FIRST."""
    if manifest.timeout:
        return float(manifest.timeout)
    walls = [
        float(e["wall_seconds"])
        for e in journal
        if e.get("contender") == manifest.reference
        and isinstance(e.get("wall_seconds"), int | float)
        and not e.get("timed_out")
    ]
    return max(TIMEOUT_FLOOR, TIMEOUT_FACTOR * max(walls)) if walls else TIMEOUT_FIRST


def run_job(hyperfine: str, job: Job, run_dir: Path, manifest: Manifest, timeout: float) -> dict:
    """Time one process; its journal entry. Interrupted on Ctrl-C/SIGTERM (export removed)."""
    metrics, model, export = run_dir / job.metrics, run_dir / job.model, run_dir / job.export
    for path in (metrics, model, export):  # fresh: nothing there the process did not write
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    nonce = uuid.uuid4().hex
    cpus = job_cpus(manifest, job)
    started = now_iso()
    try:
        done = procs.run(
            hyperfine_argv(hyperfine, job, run_dir),
            timeout=timeout,
            cpus=cpus,
            env={**os.environ, NONCE_ENV: nonce},
        )
    except KeyboardInterrupt:
        export.unlink(missing_ok=True)  # the process in flight is lost, nothing else
        raise Interrupted from None
    if done.code is None:
        raise HarnessError(f"{hyperfine}: {done.error}")
    processes = read_stream(metrics, strict=False).processes if metrics.is_file() else []
    entry = {
        "warmup": job.warmup,
        "round": job.round,
        "contender": job.contender.name,
        "seed": job.seed,
        "started_at": started,
        "export": job.export,
        "metrics": job.metrics,
        "model": job.model,
        "nonce": nonce,
        "cpus": cpus,
        "run_id": processes[0].run_id if processes else None,
        "end_at_exit": bool(processes and processes[0].end),
        "model_at_exit": model.is_file(),
        "leftovers": done.leftovers,
        "timeout": timeout,
        "timed_out": done.timed_out,
        "exit_code": None,
        "wall_seconds": done.seconds if done.timed_out else None,
    }
    if done.timed_out:
        export.unlink(missing_ok=True)
        return entry
    try:
        measured = parse_export(export).results[0].measurements
    except (HarnessError, IndexError):
        # hyperfine could not run it at all (a program that does not start): one failed run,
        # not a lost measurement session; the failure rerun records why.
        export.unlink(missing_ok=True)
        said = " ".join(done.stderr.split())[-300:]
        entry["error"] = f"hyperfine exited {done.code} without a measurement: {said}"
        return entry
    if measured:
        entry["exit_code"], entry["wall_seconds"] = measured[0].exit_code, measured[0].wall_seconds
    return entry


# (journal, rounds done) -> (why stop: a code, "" to go on; the precision reached or None)
StopRule = Callable[[list[dict[str, Any]], int], tuple[str, float | None]]


def measure(
    run_dir: Path,
    log: Callable[[str], None] = print,
    stop_rule: StopRule | None = None,
    watch: Watcher | None = None,
    parity_status: str = "skipped",
) -> bool:
    """Warm-ups, then rounds until the manifest's count (or stop_rule says stop).

    Writes hyperfine/*.json, measure.jsonl, a merged hyperfine.json and outcome.json as it
    goes; this is the only writer of outcome.json: what happened while measuring, the parity
    status verify found (parity_status) and the noise guard's facts about the window (a
    snapshot before the first process and one after the last, harness.measurement.noise).
    Returns True when every timed process exited 0; raises Interrupted on a stop.
    watch (harness.measurement.progress) hears of each process before and after it runs.
    """
    manifest = read_manifest(run_dir)
    hyperfine = str(manifest.hyperfine["path"])
    (run_dir / EXPORTS).mkdir(exist_ok=True)
    before = noise.take_snapshot()
    outcome = Outcome(parity_status=parity_status, started=now_iso())
    write_outcome(run_dir, outcome)
    journal = read_journal(run_dir)
    reason, rounds, reached = "", 0, None
    procs.become_subreaper()  # detached descendants re-parent here: counted, not missed
    dropped: set[str] = set()  # --precision: contenders that failed every seed of a round
    try:
        for w in range(1, manifest.warmup + 1):
            for job in schedule(manifest, w, warmup=True):
                limit = timeout_for(manifest, journal)
                journal.append(_watched(watch, hyperfine, job, run_dir, manifest, limit))
                append_entry(run_dir, journal[-1])
        while not reason:
            rounds += 1
            entries = []
            for job in schedule(manifest, rounds, warmup=False):
                if job.contender.name in dropped:
                    continue
                limit = timeout_for(manifest, journal + entries)
                entries.append(_watched(watch, hyperfine, job, run_dir, manifest, limit))
                append_entry(run_dir, entries[-1])  # journaled at once: a stop keeps it
            journal += entries
            _merge(run_dir)
            log(_round_line(rounds, entries))
            outcome = replace(outcome, rounds_done=rounds)
            write_outcome(run_dir, outcome)
            if stop_rule is not None:
                dropped |= failed_every_seed(entries, log, rounds)
                reason, reached = stop_rule(journal, rounds)
                others = [c.name for c in manifest.contenders if c.name != manifest.reference]
                if others and set(others) <= dropped and not reason:
                    reason = "failed"  # nothing left whose ratio could narrow
            elif rounds >= manifest.runs:
                reason = "rounds"
        outcomes = failures(manifest, read_journal(run_dir), run_dir, log)
        outcome = replace(outcome, stop_reason=reason, precision_reached=reached, outcomes=outcomes)
    except Interrupted:
        _merge(run_dir)
        outcome = replace(outcome, rounds_done=rounds - 1, finished=now_iso(), interrupted=True)
        raise
    finally:
        write_outcome(run_dir, replace(outcome, noise=noise_facts(before)))
    return all(o.status == "ok" for o in outcome.outcomes.values())


def noise_facts(before: noise.Snapshot) -> dict[str, Any]:
    """outcome.json `noise`: the load and the other processes' CPU since `before`."""
    after = noise.take_snapshot()
    load = noise.other_load(before, after, exclude={os.getpid()})
    return {
        "load_before": before.load,
        "load_after": after.load,
        "governor": ", ".join(sorted(set(after.governors))) if after.governors else None,
        "other_share": load.share,
        "window_seconds": load.window_seconds,
        "busiest": [asdict(p) for p in load.busiest],
        "note": load.note,
    }


def failed_every_seed(
    entries: list[dict[str, Any]], log: Callable[[str], None], number: int
) -> set[str]:
    """Contenders all of whose processes in this round failed: with --precision, more rounds
    would only spend the budget on them (their failures are kept and reported)."""
    names = {e["contender"] for e in entries}
    failed = {
        n for n in names if all(e.get("exit_code") != 0 for e in entries if e["contender"] == n)
    }
    for name in sorted(failed):
        log(f"  {name}: failed every seed of round {number}; not run in later rounds")
    return failed


def _watched(
    watch: Watcher | None,
    hyperfine: str,
    job: Job,
    run_dir: Path,
    manifest: Manifest,
    timeout: float,
) -> dict:
    """run_job, told to the watcher (harness.measurement.progress) before and after."""
    if watch is not None:
        watch.before(job)
    entry = run_job(hyperfine, job, run_dir, manifest, timeout)
    if watch is not None:
        watch.after(job, entry)
    return entry


def _round_line(number: int, entries: list[dict[str, Any]]) -> str:
    """`round 2: rust s1 2.31 s, python-numpy s1 3.40 s (exit 1), ...`"""
    parts = []
    for e in entries:
        wall = "n/a" if e["wall_seconds"] is None else f"{e['wall_seconds']:.2f} s"
        bad = "" if e["exit_code"] == 0 else f" (exit {e['exit_code']})"
        if e.get("timed_out"):
            bad = " (timed out: killed)"
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


def rerun_failure(
    contender: ContenderEntry, seed: str, run_dir: Path, codes: list, timeout: float
) -> Failure:
    """Run one failing (contender, seed) again outside hyperfine; keep its stderr tail."""
    argv = contender.argv if isinstance(contender.argv, list) else shlex.split(contender.argv)
    with tempfile.TemporaryDirectory(prefix="harness-rerun-") as scratch:
        metrics = Path(scratch) / "metrics.jsonl"
        model = Path(scratch) / "model.safetensors"
        argv = _redirect(argv, metrics, model, run_dir / "init" / f"seed-{seed}.safetensors")
        done = procs.run(argv, timeout=timeout)
        code, stderr = (127, done.error) if done.code is None else (done.code, done.stderr)
        status = end_status(metrics)
    path = run_dir / "stderr" / contender.name / f"seed-{seed}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stderr, encoding="utf-8")
    tail = "\n".join(stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:])[-STDERR_TAIL_CHARS:]
    why = reason(code, status) if done.code is not None else done.error
    if done.timed_out:
        why = f"timed out after {timeout:.0f} s (killed)"
    return Failure(seed, codes, code, why, tail, str(path.relative_to(run_dir)))


def _redirect(argv: list[str], metrics: Path, model: Path, init: Path) -> list[str]:
    """argv with the values of --metrics-out, --save-model and --init replaced."""
    out = list(argv)
    for flag, value in (("--metrics-out", metrics), ("--save-model", model), ("--init", init)):
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
            runs = [e for e in timed if e["seed"] == seed]
            codes = [e["exit_code"] for e in runs]
            limit = max([e.get("timeout") or TIMEOUT_FIRST for e in runs], default=TIMEOUT_FIRST)
            if any(e.get("timed_out") for e in runs):
                why = f"timed out after {limit:.0f} s (killed with its processes)"
                found.append(Failure(str(seed), codes, None, why, "", ""))
            elif codes and any(code != 0 for code in codes):
                log(f"  {c.name} seed {seed}: exit codes {codes}; running it once more for stderr")
                found.append(rerun_failure(c, str(seed), run_dir, codes, limit))
        result[c.name] = ContenderOutcome("failed" if found else "ok", found)
    return result
