"""A fake contender obeying CONTRACT.md's CLI and metrics stream, with a chosen behaviour.

    fake_contender.py --mode MODE [--sleep S] train --spec S --init I --algorithm A
                      --threads N --metrics-out M --save-model P [--max-steps K]

Modes: ok (the init model, its honest test count, reached_target, exit 0), liar (claims
every test digit right), miss (max_epochs, exit 1), bad-input (one error line, exit 2),
diverge (exit 3), crash (an uncaught exception after the start event), signal (killed by
SIGKILL), perturb (the real NumPy reference, then one weight nudged by 1e-2), hang (never
ends after its start event), background (ok, but leaves a child holding stderr open for 60 s).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def parse(argv: list[str]) -> argparse.Namespace:
    """The contract's `train` flags plus --mode and --sleep before `train`."""
    p = argparse.ArgumentParser()
    p.add_argument("--mode", required=True)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("command", choices=["train"])
    for flag in ("--spec", "--init", "--algorithm", "--metrics-out", "--save-model"):
        p.add_argument(flag)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-steps", type=int)
    return p.parse_args(argv)


def main() -> int:
    """Behave as --mode says."""
    args = parse(sys.argv[1:])
    if args.mode == "perturb":
        return perturb(sys.argv[sys.argv.index("train") :], args.save_model)
    start = time.monotonic()
    spec_bytes = Path(args.spec).read_bytes()
    spec = json.loads(spec_bytes)
    run_id = str(uuid.uuid4())
    metrics = open(args.metrics_out, "a", encoding="utf-8")  # noqa: SIM115 (open for the run)

    def emit(event: str, **fields: object) -> None:
        metrics.write(json.dumps({"event": event, "run_id": run_id, **fields}) + "\n")
        metrics.flush()

    if args.mode == "bad-input":
        print(
            f"error: {args.spec}: batch_size: expected a positive integer, got 0", file=sys.stderr
        )
        return 2
    emit(
        "start",
        implementation="fake",
        version="0.0.0",
        algorithm=args.algorithm,
        threads=args.threads,
        spec_sha256=hashlib.sha256(spec_bytes).hexdigest(),
        init=args.init,
        nonce=os.environ.get("MLP_BENCH_NONCE"),
    )
    if args.mode == "crash":
        raise RuntimeError("the fake contender crashed on purpose")
    if args.mode == "signal":
        os.kill(os.getpid(), signal.SIGKILL)
    if args.mode == "hang":
        time.sleep(3600)
    if args.mode == "background":  # inherits stderr: a pipe reader would wait 60 s for EOF
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    time.sleep(args.sleep)

    from python_impl.data import load_dataset
    from python_impl.model import count_correct
    from python_impl.modelfile import load_model
    from python_impl.spec import load_spec

    data = load_dataset(spec["dataset"]["dir"])
    n = len(data.test_y)
    emit("data", load_seconds=0.001, train_samples=len(data.train_y), test_samples=n)
    if args.mode == "diverge":
        print("error: training diverged: loss is not finite at epoch 1, step 1", file=sys.stderr)
        emit(
            "end",
            status="diverged",
            epochs=0,
            steps=1,
            test_correct=0,
            test_accuracy=0.0,
            train_seconds=0.001,
            wall_seconds=time.monotonic() - start,
        )
        return 3
    params = load_model(args.init, spec["layers"])
    correct = int(
        count_correct(params, load_spec(args.spec).hidden_activation, data.test_x, data.test_y)
    )
    claimed = n if args.mode == "liar" else correct
    status = "max_epochs" if args.mode == "miss" else "reached_target"
    steps = -(-len(data.train_y) // spec["batch_size"])
    emit(
        "epoch",
        epoch=1,
        steps=steps,
        train_seconds=0.002,
        eval_seconds=0.001,
        train_loss=2.3,
        test_correct=claimed,
        test_scored=n,
        test_accuracy=claimed / n,
    )
    shutil.copyfile(args.init, args.save_model)
    emit(
        "end",
        status=status,
        epochs=1,
        steps=steps,
        test_correct=claimed,
        test_accuracy=claimed / n,
        train_seconds=0.002,
        wall_seconds=time.monotonic() - start,
    )
    return 1 if args.mode == "miss" else 0


def perturb(train_argv: list[str], model: str) -> int:
    """Train with the real NumPy reference, then nudge one weight of the saved model."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    status = subprocess.run([sys.executable, "-m", "python_impl", *train_argv], cwd=ROOT).returncode
    if status != 0:
        return status
    tensors = load_file(model)
    tensors["layers.0.weight"][0, 0] += np.float32(1e-2)
    save_file(tensors, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
