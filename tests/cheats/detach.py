"""cheat-detach: starts the real trainer detached (a new session, a double fork) and exits 0 as
soon as the trainer's start event is in the metrics file: the training and the model land after
the parent has exited, that is after the clock stopped."""

from __future__ import annotations

import os
import sys
import time

import cheatkit

WAIT_SECONDS = 60.0  # for the trainer's start event, at most


def started(path: str, offset: int) -> bool:
    """Whether a start event was appended to the metrics file after `offset`."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return b'"event":"start"' in f.read()
    except OSError:
        return False


def detach(argv: list[str]) -> int:
    """Fork, start a new session, fork again: the grandchild trains; wait for its start event."""
    path = cheatkit.contract_args(argv).metrics_out
    if path is None:
        return cheatkit.cli.main(argv)
    offset = os.path.getsize(path) if os.path.exists(path) else 0
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)  # let go of the timer's stdio
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os._exit(cheatkit.cli.main(argv))
    os.waitpid(child, 0)
    deadline = time.monotonic() + WAIT_SECONDS
    while not started(path, offset) and time.monotonic() < deadline:
        time.sleep(0.005)
    return 0


if __name__ == "__main__":
    cheatkit.run(sys.argv[1:], detach)
