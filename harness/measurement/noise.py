"""Noise guard: what else ran on the machine while the contenders were timed, and CPU pinning.

A snapshot before and one after measuring record the load averages, every process's cumulative
CPU time and the CPU frequency governors. `other_load` turns the pair into the CPU the *other*
processes used in the window; the report warns when that exceeds 10 % of a core (analysis.stats's
`slow_rounds` flags, from the times, rounds in which every contender was slow at once).
`parse_cpus` reads `--cpus LIST` (harness.measurement.measure pins each process within it).
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

PROC = Path("/proc")
CPUFREQ = Path("/sys/devices/system/cpu")
LISTS = ("load", "governors")  # tuples of a Snapshot that JSON stores as lists or null
CPU_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+))?")  # one item of --cpus: 3 or 0-3


@dataclass(frozen=True)
class ProcessCpu:
    """One process in a snapshot. Times in seconds; `start` is seconds after boot.

    `cpu` is its own user + system time (all threads); `reaped` is the user + system time of
    its children that exited and that it waited for (cutime + cstime in /proc/<pid>/stat).
    """

    pid: int
    ppid: int
    name: str
    start: float
    cpu: float
    reaped: float


@dataclass(frozen=True)
class Snapshot:
    """The machine at one instant. `boot` is CLOCK_BOOTTIME, the clock of ProcessCpu.start.

    processes is empty and `note` says why when the process table could not be read (not
    Linux); governors is None when no cpufreq governor is readable (common in VMs).
    """

    monotonic: float
    utc: str
    boot: float | None
    load: tuple[float, float, float] | None
    processes: tuple[ProcessCpu, ...]
    governors: tuple[str, ...] | None
    note: str | None = None
    busy: float | None = None  # CPU seconds all CPUs spent busy since boot (/proc/stat)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for a results-folder JSON file."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        """The snapshot `to_json` stored."""
        with _fields_of("noise snapshot"):
            procs = tuple(ProcessCpu(**p) for p in data["processes"])
            lists = {k: tuple(data[k]) if data[k] is not None else None for k in LISTS}
            return cls(**{**data, **lists, "processes": procs})


@contextmanager
def _fields_of(what: str) -> Iterator[None]:
    """Turn a stored object with the wrong fields into a HarnessError naming `what`."""
    try:
        yield
    except (KeyError, TypeError) as exc:
        raise HarnessError(f"{what}: expected the fields to_json wrote ({exc})") from None


def _read_stat(pid: int, tick: float) -> ProcessCpu | None:
    """Parse /proc/<pid>/stat; None when the process vanished or is unreadable.

    The name (comm) sits in parentheses and may hold spaces or ')' itself, so the fields are
    split after the last ')': state ppid ... utime(14) stime(15) cutime(16) cstime(17) ...
    starttime(22), counted from 1 as in proc(5). Times are in clock ticks.
    """
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:  # vanished mid-read, or hidden (hidepid)
        return None
    name = raw[raw.find("(") + 1 : raw.rfind(")")]
    rest = raw[raw.rfind(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in rest[11:15])
    start, ppid = int(rest[19]) * tick, int(rest[1])
    return ProcessCpu(pid, ppid, name, start, (utime + stime) * tick, (cutime + cstime) * tick)


def _governors() -> tuple[str, ...] | None:
    """The distinct scaling governors of all CPUs, sorted; None when none is readable."""
    found = set()
    for path in CPUFREQ.glob("cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            found.add(path.read_text().strip())
        except OSError:
            continue
    return tuple(sorted(found)) or None


def take_snapshot() -> Snapshot:
    """Load averages, every readable process's CPU time, and the CPU frequency governors."""
    # The clocks first: a process that starts during the scan then has start >= boot and,
    # missing from a `before` snapshot, still counts in full in `other_load`.
    monotonic = time.monotonic()
    boot = time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else None
    utc = datetime.now(UTC).isoformat(timespec="milliseconds")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    note = None
    processes: list[ProcessCpu] = []
    if (PROC / "self" / "stat").exists():
        tick = 1.0 / os.sysconf("SC_CLK_TCK")
        pids = [int(e.name) for e in os.scandir(PROC) if e.name.isdigit()]
        processes = [p for p in (_read_stat(pid, tick) for pid in pids) if p is not None]
    else:
        note = "no /proc process table (not Linux): other processes' CPU time unknown"
    return Snapshot(monotonic, utc, boot, load, tuple(processes), _governors(), note, _busy())


def _busy() -> float | None:
    """Busy CPU seconds of the whole machine since boot: user + nice + system + irq + softirq
    of /proc/stat's `cpu` line (all CPUs); None where it cannot be read."""
    try:
        fields = (PROC / "stat").read_text().split("\n", 1)[0].split()
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    except (OSError, ValueError, IndexError):
        return None
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int, snapshot: Snapshot | None = None) -> set[int]:
    """Every live descendant of `pid` (children, their children, ...), by the parent links of
    `snapshot` or, without one, of a fresh read of /proc."""
    table = (snapshot or take_snapshot()).processes
    children: dict[int, list[int]] = {}
    for p in table:
        children.setdefault(p.ppid, []).append(p.pid)
    found: set[int] = set()
    todo = [pid]
    while todo:
        new = set(children.get(todo.pop(), [])) - found
        found |= new
        todo += new
    return found


@dataclass(frozen=True)
class ProcessLoad:
    """CPU seconds one other process used in the window, and that as a share of one core."""

    pid: int
    name: str
    cpu_seconds: float
    share: float


@dataclass(frozen=True)
class OtherLoad:
    """CPU used by processes other than ours between two snapshots.

    share = cpu_seconds / window_seconds: 1.0 is one core kept busy for the whole window.
    """

    window_seconds: float
    cpu_seconds: float
    share: float
    busiest: tuple[ProcessLoad, ...]
    note: str | None = None

    def exceeds(self, threshold: float = 0.10) -> bool:
        """Whether the others used more than `threshold` of a core (default 10 %)."""
        return self.share > threshold

    def to_json(self) -> dict[str, Any]:
        """A plain dict for a results-folder JSON file."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OtherLoad:
        """The load `to_json` stored."""
        with _fields_of("noise load"):
            return cls(**{**data, "busiest": tuple(ProcessLoad(**p) for p in data["busiest"])})


def other_load(before: Snapshot, after: Snapshot, exclude: set[int], top: int = 5) -> OtherLoad:
    """CPU seconds the processes outside `exclude` used between the two snapshots.

    Left out: the pids in `exclude` and all their descendants in either snapshot (pass the
    harness's pid: hyperfine and the contenders are its children). A process's total is its
    own CPU plus its reaped children's (so a compiler that starts and ends inside the window
    still counts, through the parent that waited for it). Per process (same pid *and* start):

    - in both snapshots: after - before;
    - only in `after`: its whole total if it started inside the window, else unknown (unread
      before) and ignored;
    - only in `before` (exited): unknown and ignored; but its total before the window will be
      folded into its parent's reaped time, so that is taken off the parent's count.

    Each process's count is clamped at 0 (a child reaped by another process than its parent).
    """
    window = after.monotonic - before.monotonic
    skip = set(exclude)
    for snap in (before, after):
        for pid in exclude:
            skip |= descendants(pid, snap)
    old = {(p.pid, p.start): p for p in before.processes}
    new = {(p.pid, p.start): p for p in after.processes}
    used: dict[tuple[int, float], float] = {}
    for key, p in new.items():
        if p.pid in skip:
            continue
        if key in old:
            used[key] = p.cpu + p.reaped - old[key].cpu - old[key].reaped
        elif before.boot is not None and p.start >= before.boot - 0.01:  # start: whole ticks
            used[key] = p.cpu + p.reaped
    parents = {p.pid: key for key, p in old.items()}
    for key, gone in old.items():
        parent = parents.get(gone.ppid)
        if key not in new and parent in used:
            used[parent] -= gone.cpu + gone.reaped
    counted = {key: max(0.0, cpu) for key, cpu in used.items()}
    total = sum(counted.values())
    if before.busy is not None and after.busy is not None:
        # The machine's own busy time bounds the total: a long-lived process reaped inside the
        # window (by pid 1, after its parent died) would otherwise count its whole life here.
        ours = sum(
            p.cpu + p.reaped - old[key].cpu - old[key].reaped
            for key, p in new.items()
            if p.pid in skip and key in old
        )
        total = min(total, max(0.0, after.busy - before.busy - ours))
        counted = {key: min(cpu, total) for key, cpu in counted.items()}
    ranked = sorted(counted.items(), key=lambda kv: -kv[1])[:top]
    busiest = tuple(
        ProcessLoad(key[0], new[key].name, cpu, cpu / window if window > 0 else 0.0)
        for key, cpu in ranked
    )
    note = after.note or before.note
    return OtherLoad(window, total, total / window if window > 0 else 0.0, busiest, note)


def _ranges(cpus: set[int]) -> str:
    """{0, 1, 2, 5} -> '0-2,5' (taskset -c syntax): runs of consecutive CPUs share cpu - index."""
    runs = itertools.groupby(enumerate(sorted(cpus)), key=lambda ic: ic[1] - ic[0])
    spans = [[cpu for _, cpu in run] for _, run in runs]
    return ",".join(f"{s[0]}-{s[-1]}" if len(s) > 1 else str(s[0]) for s in spans)


def parse_cpus(text: str) -> list[int]:
    """`--cpus 0-1,3` (taskset -c syntax) -> sorted distinct CPUs, all allowed to this process."""
    if not hasattr(os, "sched_getaffinity"):
        raise HarnessError("--cpus: pinning needs Linux (sched_setaffinity); leave --cpus out")
    allowed = os.sched_getaffinity(0)
    cpus: set[int] = set()
    for item in text.split(","):
        match = CPU_ITEM.fullmatch(item.strip())
        low, high = (int(match[1]), int(match[2] or match[1])) if match else (1, 0)
        if low > high or high > max(allowed):  # also keeps a range like 0-10**9 from expanding
            cpus = set()
            break
        cpus.update(range(low, high + 1))
    if not cpus or not cpus <= allowed:
        raise HarnessError(
            "--cpus: expected CPU numbers like 0,1 or 0-3 among the allowed "
            f"{_ranges(allowed)}, got '{text}'"
        )
    return sorted(cpus)
