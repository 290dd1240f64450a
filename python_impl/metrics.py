"""The metrics stream: JSON Lines appended to --metrics-out, one flushed line per event."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from typing import Any, TextIO

from python_impl.errors import InputError

NONCE_ENV = "MLP_BENCH_NONCE"  # the harness's per-run nonce, echoed in the start event


class MetricsWriter:
    """Appends events tagged with this run's id; a writer without a path writes nothing."""

    def __init__(self, path: str | None) -> None:
        self.run_id = str(uuid.uuid4())
        self.path = path
        self.file: TextIO | None = None
        if path is not None:
            try:
                self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
            except OSError as e:
                raise InputError(
                    f"{path}: cannot open metrics file for appending: {e.strerror}"
                ) from None

    def write(self, event: str, **fields: Any) -> None:
        """One line {"event": ..., "run_id": ..., **fields}, flushed at once."""
        if self.file is None:
            return
        if event == "start":  # echo the harness's nonce (CONTRACT.md): a replay shows
            fields = {**fields, "nonce": os.environ.get(NONCE_ENV)}
        line = json.dumps({"event": event, "run_id": self.run_id, **fields}, separators=(",", ":"))
        try:
            self.file.write(line + "\n")
            self.file.flush()
        except OSError as e:
            self.close()  # drops the unwritten line (a full disk would refuse it again)
            raise InputError(f"{self.path}: cannot write metrics file: {e.strerror}") from None

    def close(self) -> None:
        """Close the file (if any); a line still buffered after a failed write is dropped."""
        if self.file is not None:
            file, self.file = self.file, None
            with contextlib.suppress(OSError):
                file.close()

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
