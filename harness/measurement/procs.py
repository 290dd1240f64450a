"""The one way the harness runs a contender (or hyperfine timing one): bounded in every sense.

Used by verify (parity), measure (each hyperfine call) and the failure rerun.

- Its own process group: the child starts a new session; on a timeout or Ctrl-C the whole
  group gets SIGINT, then SIGKILL after a grace period.
- Descendants accounted for: on Linux the harness makes itself a *child subreaper*
  (prctl PR_SET_CHILD_SUBREAPER), so a descendant that detaches (double fork, setsid) is
  re-parented to the harness instead of to init. When the child has exited, every process
  still parented to the harness that was not there before is a leftover: counted, killed
  with SIGKILL and reaped. So "the process and all it started were done when the clock
  stopped" is a fact the harness checks, not one it takes on trust.
- Bounded output: stdout and stderr go to temporary files, not pipes (a background child
  holding a pipe open cannot block the harness), and only their last `limit` bytes are read
  back, with a note of how much was cut.
- `cpus`: the child and its descendants run on these CPUs only (sched_setaffinity; inherited).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STREAM_LIMIT = 64 * 1024  # bytes of a child's stdout / stderr kept (the tail)
GRACE_SECONDS = 5.0  # after SIGINT, before SIGKILL
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


@dataclass(frozen=True)
class Finished:
    """How a child process ended."""

    code: int | None  # exit status; negative: killed by that signal; None: never started
    timed_out: bool  # killed (with its group) at the timeout
    seconds: float  # wall time as the harness saw it
    stdout: str  # the tail of its stdout ("" when not captured)
    stderr: str  # the tail of its stderr, a note first when bytes were cut
    leftovers: int  # descendants still running when it exited (killed by the harness)
    error: str = ""  # why it could not start (code None)


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux); whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children() -> dict[int, str]:
    """This process's children: pid -> state letter (R, S, Z ...), from /proc (Linux)."""
    me, found = os.getpid(), {}
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return {}
    for name in entries:
        try:
            stat = Path(f"/proc/{name}/stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
        if len(fields) > 1 and fields[1] == str(me):
            found[int(name)] = fields[0]
    return found


def reap_leftovers(before: set[int]) -> int:
    """Kill and reap children that appeared since `before`; how many were still running."""
    running = 0
    for _ in range(50):  # killing one may re-parent its own children here: look again
        new = {pid: state for pid, state in children().items() if pid not in before}
        if not new:
            break
        for pid, state in new.items():
            if state != "Z":
                running += 1
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for pid in new:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
    return running


@contextlib.contextmanager
def pinned(cpus: list[int] | None) -> Iterator[None]:
    """Processes started inside the block run only on `cpus` (None: no change).

    On Linux sched_setaffinity(0) sets the calling *thread's* mask and a forked child inherits
    it (hyperfine passes it on to the contender). So the block pins this thread and restores
    it on exit; no preexec_fn, which Python documents as unsafe with threads.
    """
    if cpus is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGINT to the child's process group, then SIGKILL if it does not end in time."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=GRACE_SECONDS)


def tail(file: tempfile._TemporaryFileWrapper, limit: int) -> str:  # type: ignore[type-arg]
    """The last `limit` bytes of a file as text, after a note of how many were cut."""
    file.flush()
    size = os.fstat(file.fileno()).st_size
    file.seek(max(0, size - limit))
    text = file.read().decode("utf-8", errors="replace")
    if size > limit:
        return f"[... {size - limit} bytes cut; the last {limit} kept ...]\n{text}"
    return text


def run(
    argv: list[str],
    *,
    timeout: float | None = None,
    cpus: list[int] | None = None,
    env: dict[str, str] | None = None,
    capture_stdout: bool = False,
    limit: int = STREAM_LIMIT,
) -> Finished:
    """Run argv to its end (or its timeout); see the module docstring. Ctrl-C stops it."""
    before = set(children())
    begin = time.monotonic()
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        try:
            with pinned(cpus):
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out if capture_stdout else subprocess.DEVNULL,
                    stderr=err,
                    env=env,
                    start_new_session=True,  # its own group: stopped as one
                )
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            return Finished(None, False, 0.0, "", "", 0, f"cannot run {argv[0]}: {reason}")
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_group(proc)
        except BaseException:  # Ctrl-C, SIGTERM (raised as KeyboardInterrupt): stop, re-raise
            stop_group(proc)
            reap_leftovers(before)
            raise
        seconds = time.monotonic() - begin
        leftovers = reap_leftovers(before | {proc.pid})
        return Finished(
            proc.returncode,
            timed_out,
            seconds,
            tail(out, limit) if capture_stdout else "",
            tail(err, limit),
            leftovers,
        )
