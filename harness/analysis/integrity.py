"""What the harness vouches for in each timed run, as codes (ingest applies them per run).

A run counts only when the harness itself can vouch for it. Each check below reads facts the
harness recorded itself (measure.jsonl: the clock, the process tree, the nonce, the CPUs) or
computed itself (the referee's count), never only what the contender says. The first failing
check makes the run `invalid`, with its code in runs.csv `check` and the detail in `problem`;
analyze then calls the contender "not comparable". The codes' rules are CONTRACT.md's table
("What the harness checks"); the report's words for them are wording.CHECK_WORDS.

Tolerances:
- ended_after_clock: the contender's own clock (end event's wall_seconds, from main's start)
  must not exceed hyperfine's wall time of the whole process by more than CLOCK_SLACK_S
  (two monotonic clocks read a few ms apart; an honest process ends *after* its end event).
- threads_exceeded: user + system CPU seconds <= threads x wall x CPU_SLACK + CPU_GRACE_S
  (interpreter start-up and the kernel's accounting granularity; the process is pinned to
  as many CPUs as threads, so an honest one cannot exceed threads x wall by much).
- too_fast: the training FLOPs it claims to have done (epochs x FLOPs per epoch) within the
  whole process's wall time, at more than FLOOR_SLACK x the best sgemm rate per thread
  measured here times its threads, is not possible: no training step runs faster than the
  matrix products it is made of. 1.5 leaves room for a floor measured in a slow spell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLOCK_SLACK_S = 0.05
CPU_SLACK = 1.15
CPU_GRACE_S = 0.25
FLOOR_SLACK = 1.5


@dataclass(frozen=True)
class Verdict:
    """The first failing check of one run: its code and the detail in words ("" = ok)."""

    code: str = ""
    detail: str = ""


def process_checks(entry: dict[str, Any], record: Any, process: Any) -> Verdict:
    """The checks on the facts measure recorded about one process and its own stream."""
    if entry.get("timed_out"):
        limit = entry.get("timeout") or 0
        return Verdict("timeout", f"killed after its timeout of {limit:.0f} s")
    if entry.get("leftovers"):
        n = int(entry["leftovers"])
        return Verdict(
            "left_running",
            f"{n} process{'es' if n != 1 else ''} it started still ran when it exited "
            "(the harness killed them): work done after the clock stopped",
        )
    if "nonce" not in entry or process is None:
        return Verdict()  # a folder from before these facts were recorded, or no stream
    if record.exit_code == 0 and not entry.get("end_at_exit"):
        return Verdict("no_end_at_exit", "exited 0 before its end event was written")
    echoed = (process.start or {}).get("nonce")
    if echoed != entry["nonce"]:
        return Verdict(
            "nonce", f"its start event's nonce is {echoed!r}, not this run's: not written by it"
        )
    outside = record.startup_seconds
    if outside is not None and outside < -CLOCK_SLACK_S:
        return Verdict(
            "ended_after_clock",
            f"its own clock ran {-outside:.2f} s past the end of the process",
        )
    scored = [e.get("test_scored") for e in process.epochs]
    samples = (process.data or {}).get("test_samples")
    short = [(e["epoch"], n) for e, n in zip(process.epochs, scored, strict=True) if n != samples]
    if short:
        epoch, n = short[0]
        return Verdict("partial_eval", f"epoch {epoch} scored {n} of the {samples} test digits")
    return Verdict()


def cpu_check(record: Any, threads: int | None) -> Verdict:
    """CPU seconds (hyperfine's user + system) within the declared threads x wall."""
    if threads is None or record.user_seconds is None or record.system_seconds is None:
        return Verdict()
    cpu, wall = record.user_seconds + record.system_seconds, record.wall_seconds
    if cpu > threads * wall * CPU_SLACK + CPU_GRACE_S:
        return Verdict(
            "threads_exceeded",
            f"used {cpu:.2f} CPU-seconds in {wall:.2f} s ({cpu / wall:.2f} cores) with "
            f"{threads} thread{'s' if threads != 1 else ''} declared",
        )
    return Verdict()


def rate_bound(floor: dict[str, Any], threads: int) -> float | None:
    """The fastest sgemm rate `threads` threads could reach here: the best rate per thread
    measured at any thread count, times `threads` (a multi-thread measurement spoilt by a busy
    machine then does not lower the bound), in GFLOP/s."""
    per_thread = [
        float(rate) / int(t)
        for t, rate in (floor.get("sgemm_gflops") or {}).items()
        if str(t).isdigit() and int(t) > 0 and isinstance(rate, int | float) and rate > 0
    ]
    return max(per_thread) * threads if per_thread else None


def floor_check(record: Any, threads: int | None, floor: dict[str, Any]) -> Verdict:
    """The claimed epochs' training FLOPs within FLOOR_SLACK x the fastest sgemm rate."""
    flops = floor.get("train_flops_per_epoch")
    bound = rate_bound(floor, threads or 1)
    if not flops or not bound or not record.epochs or not record.wall_seconds:
        return Verdict()
    claimed = float(flops) * record.epochs / record.wall_seconds / 1e9
    if claimed > FLOOR_SLACK * bound:
        return Verdict(
            "too_fast",
            f"{record.epochs} epochs in {record.wall_seconds:.2f} s is {claimed:.0f} GFLOP/s "
            f"of training, over {FLOOR_SLACK:g}x the fastest sgemm rate {threads or 1} "
            f"thread{'s' if threads != 1 else ''} reach here ({bound:.0f} GFLOP/s)",
        )
    return Verdict()


def referee_check(row: Any) -> Verdict:
    """The referee's reading of this run's own model (an EvaluatorRow)."""
    if row is None:
        return Verdict()
    if row.note and row.evaluator_test_correct is None:
        code = "no_model" if row.note == "no saved model" else "model_unreadable"
        return Verdict(code, row.note)
    if row.agrees is False and row.claimed_status != "max_steps":
        return Verdict("referee_disagrees", row.note)
    return Verdict()
