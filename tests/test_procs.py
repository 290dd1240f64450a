"""procs: a child's group stopped at its timeout, its leftovers found, output bounded."""

from __future__ import annotations

import os
import sys
import time

import pytest

from harness.measurement import procs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc, prctl")

DETACH = """
import os, sys, time
if os.fork() == 0:           # child: a new session, then a grandchild that outlives us all
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
os.wait()
"""


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_child_that_exits_cleanly_reports_its_status_and_stderr():
    done = procs.run(python("import sys; sys.stderr.write('hello'); sys.exit(3)"))
    assert (done.code, done.timed_out, done.leftovers, done.stderr) == (3, False, 0, "hello")


def running_children() -> set[int]:
    return {pid for pid, state in procs.children().items() if state != "Z"}


def test_a_detached_grandchild_is_found_counted_and_killed_when_the_child_exits():
    assert procs.become_subreaper()
    before = running_children()
    begin = time.monotonic()
    done = procs.run(python(DETACH))
    assert done.code == 0
    assert done.leftovers == 1
    assert time.monotonic() - begin < 30  # not the grandchild's 60 s
    assert running_children() <= before


def test_a_child_that_never_ends_is_killed_with_its_group_at_the_timeout():
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    before = running_children()
    begin = time.monotonic()
    done = procs.run(python(code), timeout=1.0)
    assert done.timed_out
    assert time.monotonic() - begin < 20
    assert running_children() <= before


def test_a_background_child_holding_stderr_open_does_not_block_the_harness():
    code = (
        "import subprocess, sys; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('bye')"
    )
    begin = time.monotonic()
    done = procs.run(python(code), capture_stdout=True)
    assert done.code == 0 and done.stdout.strip() == "bye"
    assert done.leftovers == 1
    assert time.monotonic() - begin < 30


def test_captured_output_keeps_only_the_tail_and_says_how_much_was_cut():
    code = "import sys; sys.stderr.write('x' * 100000 + 'END')"
    done = procs.run(python(code), limit=1000)
    assert done.stderr.startswith("[... 99003 bytes cut; the last 1000 kept ...]")
    assert done.stderr.endswith("END")
    assert len(done.stderr) < 1100


def test_a_program_that_cannot_start_is_one_line_not_an_exception():
    done = procs.run(["/nonexistent/program"])
    assert (
        done.code is None
        and done.error == "cannot run /nonexistent/program: No such file or directory"
    )


def test_pinned_restricts_the_child_to_the_cpus_given_and_then_restores():
    allowed = sorted(os.sched_getaffinity(0))
    code = "import os; print(sorted(os.sched_getaffinity(0)))"
    done = procs.run(python(code), cpus=[allowed[-1]], capture_stdout=True)
    assert done.stdout.strip() == str([allowed[-1]])
    assert sorted(os.sched_getaffinity(0)) == allowed
