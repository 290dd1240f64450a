"""``python -m python_impl``: the contender CLI of CONTRACT.md (NumPy, or PyTorch if installed)."""

from __future__ import annotations

from python_impl import signals

if __name__ == "__main__":  # first of all: from here on a signal ends the run in one line
    signals.install()

import argparse  # the rest after the signal handlers
import json
import re
import sys
import time

from python_impl import __version__
from python_impl.errors import (
    EXIT_BAD_INPUT,
    EXIT_DIVERGED,
    Diverged,
    InputError,
    shown,
)

MAX_THREADS = 1024
# The integer flags: name -> (largest value, the rule as error lines state it).
INT_FLAGS = {
    "--threads": (MAX_THREADS, f"an integer in [1, {MAX_THREADS}]"),
    "--max-steps": (2**63 - 1, "an integer in [1, 2^63)"),
}


def flag_int(flag: str, text: str | None) -> int | None:
    """The value of an integer flag (ASCII digits, within INT_FLAGS); InputError otherwise."""
    if text is None:
        return None
    largest, rule = INT_FLAGS[flag]
    digits = text.lstrip("0")
    if re.fullmatch(r"[0-9]+", text) and len(digits) <= 20 and 1 <= int(digits or 0) <= largest:
        return int(digits)
    raise InputError(f"{flag}: expected {rule}, got {json.dumps(text, ensure_ascii=False)}")


def parser() -> argparse.ArgumentParser:
    """The argument parser: global backend options, then the ``train`` subcommand."""
    p = argparse.ArgumentParser(
        prog="python -m python_impl",
        description="Train the benchmark's MLP as CONTRACT.md specifies (NumPy reference).",
    )
    p.add_argument("--version", action="version", version=f"python_impl {__version__}")
    p.add_argument(
        "--backend",
        choices=("numpy", "torch"),
        default="numpy",
        help="numpy (default) or torch (needs: pip install '.[torch]')",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="torch backend only: where to train (default cpu)",
    )
    sub = p.add_subparsers(dest="command", required=True, title="commands")
    t = sub.add_parser("train", help="train until the spec's target accuracy")
    t.add_argument("--spec", required=True, metavar="SPEC.json", help="model and training spec")
    t.add_argument("--init", metavar="MODEL.safetensors", help="start from these weights")
    t.add_argument(
        "--algorithm",
        choices=("batched", "per-sample"),
        default="batched",
        help="one matrix product per layer per batch (default), or one sample at a time",
    )
    t.add_argument(
        "--threads", default="1", metavar="N", help=f"compute threads, 1-{MAX_THREADS} (default 1)"
    )
    t.add_argument("--metrics-out", metavar="FILE.jsonl", help="append JSON Lines events here")
    t.add_argument("--save-model", metavar="FILE.safetensors", help="write the final model")
    t.add_argument(
        "--max-steps", metavar="K", help="stop after K optimizer steps, ignoring the target"
    )
    return p


def backend_for(name: str, device: str):
    """The backend object for --backend/--device; InputError when it cannot run."""
    if name == "numpy":
        if device != "cpu":
            raise InputError(f"--device {device}: the numpy backend runs on the cpu only")
        from python_impl.train import NumpyBackend  # NumPy: imported once signals are handled

        return NumpyBackend()
    from python_impl.torch_backend import TorchBackend  # optional extra: import on demand

    return TorchBackend(device)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0, 1 below target, 2 bad input, 3 diverged)."""
    started = time.perf_counter()
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors (argparse printed them)
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    try:
        from python_impl.train import Options, run

        options = Options(
            spec=args.spec,
            init=args.init,
            algorithm=args.algorithm,
            threads=flag_int("--threads", args.threads),
            metrics_out=args.metrics_out,
            save_model=args.save_model,
            max_steps=flag_int("--max-steps", args.max_steps),
        )
        return run(options, backend_for(args.backend, args.device), started)
    except InputError as e:  # paths as the Rust binary prints them (CONTRACT.md, *Paths*)
        print(f"error: {shown(str(e))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Diverged as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DIVERGED
    except MemoryError as e:  # validation bounds the network; the machine may still be smaller
        print(f"error: out of memory: {e}" if str(e) else "error: out of memory", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
