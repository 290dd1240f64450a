"""SIGINT and SIGTERM end a run at once with one line (CONTRACT.md, *Failures*).

Imported first by ``python -m python_impl`` (only ``os`` and ``signal`` are loaded here), so
that the handlers are in place before the heavy imports (argparse, NumPy): from then on a
signal gives the contract's line and exit status. The interpreter's own start-up, before any
code of this package runs, is the one window no handler can cover.

A model file being written is first a temporary file (python_impl.modelfile): its path is kept
in ``PENDING`` while it exists, and a signal removes it, so an interrupted save leaves nothing.
"""

from __future__ import annotations

import os
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)
PENDING: set[str] = set()  # temporary model files that exist right now (removed on a signal)


def exit_on_signal(signum: int, _frame: object) -> None:
    """SIGINT/SIGTERM: remove a half-written model file, write one line, exit 128 + signum.

    Every metrics line is flushed when written, so the stream holds whole lines only.
    """
    for path in list(PENDING):
        try:  # noqa: SIM105 (contextlib is not worth importing this early)
            os.unlink(path)
        except OSError:
            pass
    os.write(2, f"error: interrupted by {signal.Signals(signum).name}\n".encode())
    os._exit(128 + signum)


def install() -> None:
    """Handle SIGINT and SIGTERM with exit_on_signal from now on."""
    for sig in SIGNALS:
        signal.signal(sig, exit_on_signal)
