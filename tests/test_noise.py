"""The noise guard: other processes' CPU between snapshots, slow rounds, --cpus and pinning."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from harness.analysis.stats import slow_rounds
from harness.errors import HarnessError
from harness.measurement.noise import (
    OtherLoad,
    ProcessCpu,
    ProcessLoad,
    Snapshot,
    descendants,
    other_load,
    parse_cpus,
    take_snapshot,
)


def snap(at: float, *procs: ProcessCpu) -> Snapshot:
    """A synthetic snapshot `at` seconds (monotonic and since boot alike)."""
    return Snapshot(at, "2024-01-01T00:00:00.000+00:00", at, (0.5, 0.4, 0.3), procs, None)


def proc(pid: int, cpu: float, ppid: int = 1, start: float = 0.0, reaped: float = 0.0):
    return ProcessCpu(pid, ppid, f"p{pid}", start, cpu, reaped)


BEFORE = snap(100.0, proc(10, 1.0), proc(11, 0.0, ppid=10), proc(20, 1.0), proc(30, 5.0))
AFTER = snap(
    110.0,
    proc(10, 3.0),  # the harness: excluded
    proc(11, 3.0, ppid=10),  # its child: excluded with it
    proc(12, 9.0, ppid=11, start=105.0),  # a grandchild born in the window: excluded too
    proc(20, 3.0),  # +2.0
    proc(30, 5.5),  # +0.5
    proc(40, 1.0, start=104.0),  # started in the window: all of its 1.0
    proc(50, 100.0, start=50.0),  # older than the window but unread before: unknown, ignored
)


def test_other_load_counts_cpu_used_in_the_window_by_processes_not_excluded():
    load = other_load(BEFORE, AFTER, exclude={10})
    assert load.window_seconds == 10.0
    assert load.cpu_seconds == pytest.approx(3.5)
    assert load.share == pytest.approx(0.35)
    assert [(p.pid, p.cpu_seconds) for p in load.busiest] == [(20, 2.0), (40, 1.0), (30, 0.5)]
    assert load.busiest[0] == ProcessLoad(20, "p20", 2.0, 0.2)
    assert load.exceeds()
    assert not load.exceeds(0.5)


def test_other_load_keeps_only_the_top_processes_but_counts_them_all():
    load = other_load(BEFORE, AFTER, exclude={10}, top=1)
    assert [p.pid for p in load.busiest] == [20]
    assert load.cpu_seconds == pytest.approx(3.5)


def test_a_reused_pid_is_a_new_process_not_a_continuation():
    before = snap(0.0, proc(7, 50.0, start=-100.0))
    after = snap(4.0, proc(7, 0.2, start=2.0))  # the old 7 exited; a new 7 used 0.2 s
    assert other_load(before, after, exclude=set()).cpu_seconds == pytest.approx(0.2)


def test_a_child_reaped_in_the_window_counts_only_its_time_in_the_window():
    # make (60) runs a compiler (61) that had used 4 s at `before` and 6 s when it exited;
    # make's reaped time then holds all 6 s, of which 2 s fall in the window.
    before = snap(0.0, proc(60, 1.0), proc(61, 4.0, ppid=60))
    after = snap(5.0, proc(60, 1.5, reaped=6.0))
    load = other_load(before, after, exclude=set())
    assert load.cpu_seconds == pytest.approx(0.5 + 2.0)


def test_a_quiet_machine_does_not_exceed_the_threshold():
    before = snap(0.0, proc(20, 1.0))
    after = snap(10.0, proc(20, 1.5))
    load = other_load(before, after, exclude=set())
    assert load.share == pytest.approx(0.05)
    assert not load.exceeds()


def test_snapshots_and_loads_survive_a_json_file_round_trip():
    assert Snapshot.from_json(json.loads(json.dumps(AFTER.to_json()))) == AFTER
    load = other_load(BEFORE, AFTER, exclude={10})
    assert OtherLoad.from_json(json.loads(json.dumps(load.to_json()))) == load
    with pytest.raises(HarnessError, match="noise snapshot: expected"):
        Snapshot.from_json({"monotonic": 1.0})


def test_a_real_snapshot_lists_this_process_and_the_load_averages():
    shot = take_snapshot()
    me = [p for p in shot.processes if p.pid == os.getpid()]
    assert len(me) == 1
    assert me[0].ppid == os.getppid()
    assert me[0].cpu > 0
    assert shot.load is not None and len(shot.load) == 3
    assert shot.governors is None or all(shot.governors)
    assert shot.note is None


BURN = "import time\nwhile time.process_time() < 0.5: pass"
BUSY = [sys.executable, "-c", f"{BURN}\nprint('done', flush=True)\ntime.sleep(60)"]
# A shell whose child burns 0.5 s and exits before the second snapshot: the shell reaps it.
REAPER = ["sh", "-c", f"{shlex.quote(sys.executable)} -c {shlex.quote(BURN)}; echo done; sleep 60"]


def busy_window(argv: list[str], exclude_self: bool = False) -> tuple[int, OtherLoad]:
    """Snapshots around a child that burns 0.5 s of CPU (it is still alive at the second)."""
    before = take_snapshot()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "done\n"
        after = take_snapshot()
    finally:
        child.kill()
        child.wait()
    exclude = {os.getpid()} if exclude_self else set()
    return child.pid, other_load(before, after, exclude, top=20)


@pytest.mark.serial  # a share of a core: another worker beside it would take some
def test_a_busy_process_shows_among_the_busiest_with_its_share_of_a_core():
    pid, load = busy_window(BUSY)
    mine = [p for p in load.busiest if p.pid == pid]
    assert len(mine) == 1
    assert mine[0].cpu_seconds >= 0.45
    assert mine[0].share > 0.3
    assert load.exceeds()


@pytest.mark.serial  # a share of a core: another worker beside it would take some
def test_children_of_an_excluded_process_are_excluded():
    pid, load = busy_window(BUSY, exclude_self=True)
    assert pid not in {p.pid for p in load.busiest}
    assert os.getpid() not in {p.pid for p in load.busiest}


@pytest.mark.serial  # a share of a core: another worker beside it would take some
def test_a_short_lived_process_counts_through_the_parent_that_reaped_it():
    pid, load = busy_window(REAPER)
    shell = [p for p in load.busiest if p.pid == pid]
    assert len(shell) == 1
    assert shell[0].cpu_seconds >= 0.45


def test_descendants_follows_parent_links_through_generations():
    table = snap(0.0, proc(10, 0), proc(11, 0, ppid=10), proc(12, 0, ppid=11), proc(13, 0))
    assert descendants(10, table) == {11, 12}
    assert descendants(13, table) == set()


def test_slow_rounds_flags_a_round_in_which_every_contender_was_slow():
    times = {
        "numpy": {1: 1.0, 2: 1.0, 3: 1.2, 4: 1.0, 5: 1.3},
        "rust": {1: 2.0, 2: 2.0, 3: 2.4, 4: 2.0, 5: 2.0},
        "torch": {1: 3.0, 2: 3.0, 3: 3.6, 4: 3.0},  # no data in round 5
    }
    # round 3: all 20 % slow; round 5: only numpy slow (one contender's outlier)
    assert slow_rounds(times) == [3]
    assert slow_rounds(times, factor=1.25) == []


def test_slow_rounds_needs_two_contenders_and_three_rounds():
    slow = {1: 1.0, 2: 1.0, 3: 2.0}
    assert slow_rounds({"numpy": slow}) == []
    assert slow_rounds({"numpy": {1: 1.0, 2: 2.0}, "rust": {1: 1.0, 2: 2.0}}) == []
    assert slow_rounds({"numpy": slow, "rust": slow}) == [3]


@pytest.fixture
def four_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0-1,3", [0, 1, 3]), (" 2 , 0", [0, 2]), ("1,1", [1]), ("3", [3]), ("0-3", [0, 1, 2, 3])],
)
def test_parse_cpus_reads_taskset_lists(four_cpus: None, text: str, cpus: list[int]):
    assert parse_cpus(text) == cpus


@pytest.mark.parametrize("text", ["", "a", "3-1", "0-9", "-1", "1-", "0,,1", "4", "0-1000000000"])
def test_parse_cpus_rejects_malformed_or_disallowed_cpus(four_cpus: None, text: str):
    with pytest.raises(HarnessError) as caught:
        parse_cpus(text)
    assert str(caught.value) == (
        f"--cpus: expected CPU numbers like 0,1 or 0-3 among the allowed 0-3, got '{text}'"
    )


def test_parse_cpus_names_a_gapped_allowed_set_in_taskset_syntax(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 3})
    with pytest.raises(HarnessError, match="among the allowed 0-1,3, got '2'"):
        parse_cpus("2")


def test_a_long_lived_process_reaped_inside_the_window_counts_no_more_than_the_machine_did():
    init_before = ProcessCpu(1, 0, "init", 0.0, 1.0, 0.0)
    init_after = ProcessCpu(1, 0, "init", 0.0, 1.0, 1000.0)  # reaped an orphan of long ago
    harness_before = ProcessCpu(50, 1, "python", 5.0, 2.0, 0.0)
    harness_after = ProcessCpu(50, 1, "python", 5.0, 2.5, 8.5)  # itself and its contenders
    before = Snapshot(100.0, "t0", 200.0, None, (init_before, harness_before), None, None, 500.0)
    after = Snapshot(110.0, "t1", 210.0, None, (init_after, harness_after), None, None, 510.0)
    load = other_load(before, after, exclude={50})
    # The machine was busy 10 CPU-seconds; the harness's tree used 9 of them: 1 s for others.
    assert load.cpu_seconds == pytest.approx(1.0)
    assert load.share == pytest.approx(0.1)
    assert load.busiest[0].name == "init" and load.busiest[0].cpu_seconds == pytest.approx(1.0)
