"""``python -m python_impl``: the contender CLI of CONTRACT.md (NumPy, or PyTorch if installed)."""

from __future__ import annotations

import argparse
import sys
import time

from python_impl import __version__
from python_impl.errors import Diverged, InputError
from python_impl.train import EXIT_DIVERGED, NumpyBackend, Options, run

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
        "--threads", type=positive_int, default=1, metavar="N", help="compute threads (default 1)"
    )
    t.add_argument("--metrics-out", metavar="FILE.jsonl", help="append JSON Lines events here")
    t.add_argument("--save-model", metavar="FILE.safetensors", help="write the final model")
    t.add_argument(
        "--max-steps",
        type=positive_int,
        metavar="K",
        help="stop after K optimizer steps, ignoring the target",
    )
    return p


def backend_for(name: str, device: str):
    """The backend object for --backend/--device; InputError when it cannot run."""
    if name == "numpy":
        if device != "cpu":
            raise InputError(f"--device {device}: the numpy backend runs on the cpu only")
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
    options = Options(
        spec=args.spec,
        init=args.init,
        algorithm=args.algorithm,
        threads=args.threads,
        metrics_out=args.metrics_out,
        save_model=args.save_model,
        max_steps=args.max_steps,
    )
    try:
        return run(options, backend_for(args.backend, args.device), started)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Diverged as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DIVERGED
    except KeyboardInterrupt:  # Ctrl-C: the shell's convention, no traceback
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
