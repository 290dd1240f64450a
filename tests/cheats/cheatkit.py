"""What the cheat contenders share: the contract's flags, honest training, a fake stream.

Each cheat (tests/cheats/<name>.py, declared in tests/cheats/contenders.json) obeys CONTRACT.md's
CLI and behaves exactly like the NumPy reference under `--max-steps` (so it passes parity);
only a full training run cheats. Everything is python_impl's own code: its argument parser,
its training loop (with an engine or backend swapped in), its metrics writer (fresh run_id, the
harness's nonce echoed, `test_scored` in every epoch event) and its model files. The cheats are
the adversary of harness integrity checks (issue 18); tests/test_cheats.py runs them.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from python_impl import __main__ as cli  # noqa: E402 (after the path above)
from python_impl import signals  # noqa: E402

PARITY_STEPS = 10  # the most steps a parity check takes by default (`verify`: 10, `run`: 3)


def contract_args(argv: list[str]) -> Any:
    """The `train` flags, parsed by python_impl's own parser (argparse exits 2 on bad usage)."""
    return cli.parser().parse_args(argv)


def cheating(argv: list[str]) -> bool:
    """Whether this run may cheat: a run without --max-steps (parity always passes --max-steps)."""
    return contract_args(argv).max_steps is None


def handle_signals() -> None:
    """SIGINT/SIGTERM as the contract says (one line, exit 128 + signal), like python_impl."""
    signals.install()


def escape_pinning() -> None:
    """Run on every CPU of the machine again, whatever CPU affinity the harness set."""
    if hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, range(os.cpu_count() or 1))


def train(argv: list[str], engine: type | None = None, blas_threads: int | None = None) -> int:
    """python_impl's `main(argv)`, with the NumPy engine replaced by `engine` (a NumpyEngine
    subclass) and, with blas_threads, the BLAS left at that many threads on every CPU whatever
    --threads says and whatever CPUs it was pinned to (the start event still reports the
    declared count)."""
    if blas_threads is not None:
        escape_pinning()  # before NumPy starts its BLAS threads, which inherit the mask
    from threadpoolctl import threadpool_limits

    from python_impl.train import NumpyBackend

    class Backend(NumpyBackend):
        def configure(self, threads: int) -> dict[str, Any]:
            extras = super().configure(threads)  # reports what was declared
            if blas_threads is not None:
                self._cheat = threadpool_limits(limits=blas_threads, user_api="blas")
            return extras

        def engine(self, spec: Any, data: Any, params: Any, algorithm: str) -> Any:
            if engine is None:
                return super().engine(spec, data, params, algorithm)
            return engine(spec, data, params, algorithm)

    cli.backend_for = lambda _name, _device: Backend()
    return cli.main(argv)


def run(argv: list[str], cheat: Callable[[list[str]], int]) -> None:
    """Handle signals; train honestly under --max-steps, else cheat(argv); exit with its code."""
    handle_signals()
    sys.exit(cheat(argv) if cheating(argv) else cli.main(argv))


def _sample_count(path: str) -> int:
    """The item count in an IDX file's header (raw or .gz), without reading the rest."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return struct.unpack(">II", f.read(8))[1]


def fake_run(argv: list[str], save_init: bool) -> int:
    """A plausible stream that reaches the target in a few epochs, without training: the start
    event python_impl would write, the real sample counts, a rising test count that ends just
    above the target, times as elapsed. Saves the untrained --init model when save_init."""
    from python_impl.data import FILES, find_file
    from python_impl.metrics import MetricsWriter
    from python_impl.modelfile import save_model
    from python_impl.spec import load_spec
    from python_impl.train import NumpyBackend, init_name, initial_params

    started = time.perf_counter()
    args = contract_args(argv)
    threads = cli.flag_int("--threads", args.threads)
    spec = load_spec(args.spec)
    with MetricsWriter(args.metrics_out) as metrics:
        extras = NumpyBackend().configure(threads)
        metrics.write(
            "start",
            implementation="python-numpy",
            version="0.1.0",
            algorithm=args.algorithm,
            threads=threads,
            spec_sha256=spec.sha256,
            init=init_name(spec, args.init),
            **extras,
        )
        begin = time.perf_counter()
        n = _sample_count(find_file(spec.dataset_dir, FILES["train"][1]))
        m = _sample_count(find_file(spec.dataset_dir, FILES["test"][1]))
        metrics.write(
            "data", load_seconds=time.perf_counter() - begin, train_samples=n, test_samples=m
        )
        per_epoch = math.ceil(n / spec.batch_size)
        final = math.floor(spec.target_accuracy * m) + 1  # just above the target
        counts = [round(final * f) for f in (0.9, 0.95, 0.98)] + [final]
        train_total = 0.0
        for epoch, correct in enumerate(counts, start=1):
            tick = time.perf_counter()
            train_seconds = time.perf_counter() - tick
            train_total += train_seconds
            metrics.write(
                "epoch",
                epoch=epoch,
                steps=epoch * per_epoch,
                train_seconds=train_seconds,
                eval_seconds=0.0,
                train_loss=0.3 + 0.5 / epoch,
                test_correct=correct,
                test_scored=m,
                test_accuracy=correct / m,
            )
        metrics.write(
            "end",
            status="reached_target",
            epochs=len(counts),
            steps=len(counts) * per_epoch,
            test_correct=final,
            test_accuracy=final / m,
            train_seconds=train_total,
            wall_seconds=time.perf_counter() - started,
        )
    if save_init and args.save_model is not None:
        params = initial_params(spec, args.init)
        meta = {
            "implementation": "python-numpy",
            "status": "reached_target",
            "steps": str(len(counts) * per_epoch),
            "spec_sha256": spec.sha256,
        }
        save_model(args.save_model, params, meta)
    return 0
