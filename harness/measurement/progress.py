"""Progress while measuring: what runs now, how long it has taken, about how long is left.

measure() calls a Watcher before and after each process it times (warm-ups included). The
one here, Progress, shows on a terminal a live line (rich): the round, the contender and seed
running, a bar of processes done, the elapsed time and an estimate of the time left; when
stdout is not a terminal (CI logs, `| tee`), one plain line per finished process instead.
Either way a process that took much longer than the same contender's earlier runs is flagged
as it happens, since a slow spell of a shared machine shows first there. `--quiet` passes no
watcher, so nothing is shown.

The estimate: each contender's mean process time so far (every contender's mean for one
not yet seen) times the processes still to run. With `--precision` the number of rounds is
open: the estimate covers the minimum rounds and the time budget caps it.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from harness.model.records import Manifest

SLOW_FACTOR = 1.5  # a process this many times its contender's earlier median is flagged


class Watcher(Protocol):
    """What measure() tells about each process it times."""

    def before(self, job: Any) -> None:
        """A process is about to start (job: harness.measurement.measure.Job)."""

    def after(self, job: Any, entry: dict[str, Any]) -> None:
        """It finished; entry is its measure.jsonl line (wall_seconds, exit_code)."""


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 seed`, `3 seeds`."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def clock(seconds: float | None) -> str:
    """Seconds as m:ss (h:mm:ss from an hour)."""
    if seconds is None:
        return "?"
    whole = round(max(0.0, seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class Plan:
    """The processes measure() will run, as far as known before it starts."""

    contenders: tuple[str, ...]
    seeds: int
    warmup: int  # warm-up rounds (each contender once)
    rounds: int  # timed rounds known to run (the minimum with --precision)
    budget: float | None  # --precision's time budget in seconds; None: rounds are fixed

    @classmethod
    def of(cls, manifest: Manifest, min_rounds: int, budget: float | None) -> Plan:
        return cls(
            tuple(c.name for c in manifest.contenders),
            len(manifest.seeds),
            manifest.warmup,
            min_rounds,
            budget,
        )

    @property
    def total(self) -> int:
        """Processes in the warm-ups and the known rounds."""
        per_round = len(self.contenders) * self.seeds
        return self.warmup * len(self.contenders) + self.rounds * per_round


class Estimator:
    """Elapsed time, time left and slow processes, from the processes finished so far."""

    def __init__(self, plan: Plan, now: Callable[[], float] = time.monotonic) -> None:
        self.plan, self.now = plan, now
        self.started = now()
        self.done = 0
        self.rounds_seen = 0
        self.times: dict[str, list[float]] = defaultdict(list)
        self.left: dict[str, int] = {
            c: plan.warmup + plan.rounds * plan.seeds for c in plan.contenders
        }

    @property
    def total(self) -> int:
        """Processes planned, growing when --precision adds rounds past the minimum."""
        extra = max(0, self.rounds_seen - self.plan.rounds) * len(self.plan.contenders)
        return self.plan.total + extra * self.plan.seeds

    def elapsed(self) -> float:
        return self.now() - self.started

    def start(self, job: Any) -> None:
        """A new round past the planned ones adds its processes to what is left."""
        if not job.warmup and job.round > max(self.rounds_seen, self.plan.rounds):
            for name in self.plan.contenders:
                self.left[name] += self.plan.seeds
        if not job.warmup:
            self.rounds_seen = max(self.rounds_seen, job.round)

    def finish(self, name: str, wall: float | None) -> float | None:
        """Record a finished process; how many times its contender's earlier median it took
        when that is SLOW_FACTOR or more (else None)."""
        self.done += 1
        self.left[name] = max(0, self.left.get(name, 1) - 1)
        earlier = self.times[name]
        slow = None
        if wall is not None and earlier:
            factor = wall / statistics.median(earlier)
            slow = factor if factor >= SLOW_FACTOR else None
        if wall is not None:
            earlier.append(wall)
        return slow

    def remaining(self) -> float | None:
        """Seconds left in the known processes: each contender's mean time times its
        processes left (None before any process finished)."""
        seen = [t for ts in self.times.values() for t in ts]
        if not seen:
            return None
        overall = statistics.fmean(seen)
        return sum(
            n * (statistics.fmean(self.times[c]) if self.times[c] else overall)
            for c, n in self.left.items()
        )

    def eta_text(self) -> str:
        """`about 0:42 left`; under --precision also the most the time budget allows."""
        left = self.remaining()
        if left is None:
            return "estimate after the first process"
        if self.plan.budget is None:
            return f"about {clock(left)} left"
        cap = max(0.0, self.plan.budget - self.elapsed())
        return f"about {clock(min(left, cap))} left (at most {clock(cap)} if more rounds needed)"


def describe(job: Any, plan: Plan) -> str:
    """`warm-up 1/1: rust` or `round 2/3: rust seed 1`."""
    if job.warmup:
        return f"warm-up {job.round}/{plan.warmup}: {job.contender.name}"
    of = f"/{plan.rounds}" if plan.budget is None else ""
    return f"round {job.round}{of}: {job.contender.name} seed {job.seed}"


def slow_text(job: Any, wall: float, factor: float) -> str:
    return (
        f"  slow: {job.contender.name} seed {job.seed} took {wall:.2f} s, {factor:.1f}x its "
        "earlier runs' median: the machine may be busy (paired ratios cancel a slow spell "
        "shared by both sides, not this)"
    )


class Progress:
    """The Watcher `harness run` passes to measure(): a live line on a terminal, else lines.

    Use as a context manager around measure(), so the live line is removed at the end.
    """

    def __init__(
        self,
        plan: Plan,
        stream: TextIO | None = None,
        live: bool | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan = plan
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.estimate = Estimator(plan, now)
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        warm = plural(
            self.plan.warmup * len(self.plan.contenders), "warm-up process", "warm-up processes"
        )
        timed = plural(
            self.plan.total - self.plan.warmup * len(self.plan.contenders),
            "timed process",
            "timed processes",
        )
        more = " at least" if self.plan.budget is not None else ""
        if self.live:
            self._bar = _rich_bar(self.stream)
            self._task = self._bar.add_task("starting", total=self.plan.total, eta="")
            self._bar.start()
        self._print(f"  measuring{more} {timed} after {warm}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _print(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, highlight=False, markup=False, soft_wrap=True)
        else:
            print(line, file=self.stream, flush=True)

    def before(self, job: Any) -> None:
        self.estimate.start(job)
        if self._bar is not None:
            self._bar.update(
                self._task,
                description=describe(job, self.plan),
                total=self.estimate.total,
                eta=self.estimate.eta_text(),
            )

    def after(self, job: Any, entry: dict[str, Any]) -> None:
        wall, code = entry.get("wall_seconds"), entry.get("exit_code")
        factor = self.estimate.finish(job.contender.name, wall)
        took = "n/a" if wall is None else f"{wall:.2f} s"
        failed = "" if code == 0 else f" (exit {code})"
        if self._bar is not None:
            self._bar.update(self._task, completed=self.estimate.done, eta=self.estimate.eta_text())
            if failed:
                self._print(f"  {describe(job, self.plan)}: {took}{failed}")
        else:
            self._print(
                f"  [{self.estimate.done}/{self.estimate.total} {clock(self.estimate.elapsed())}] "
                f"{describe(job, self.plan)}: {took}{failed}; {self.estimate.eta_text()}"
            )
        if factor is not None and not job.warmup and wall is not None:
            self._print(slow_text(job, wall, factor))


def _rich_bar(stream: TextIO) -> Any:
    """rich's progress display: description, bar, n/N, elapsed, our estimate of time left."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import (
        Progress as Bar,
    )

    return Bar(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
        console=Console(file=stream),
        transient=True,
        refresh_per_second=4,
    )
