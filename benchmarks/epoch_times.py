"""Seconds per training epoch, side by side, for every contender on full-size data.

    python benchmarks/epoch_times.py [--data-dir DIR] [--epochs 3] [--rounds 2] [--threads 1,2]

Each contender runs as the harness runs it (a whole process, same spec, same initial model,
target 1.0 so it trains exactly --epochs epochs and exits 1) and reports its own per-epoch
training seconds in its metrics stream; the first epoch of each process is dropped as warm-up.
Rounds interleave the contenders so that machine noise hits all of them alike. Beside them,
measured in this process: python_impl's trainer against a bare NumPy loop of the same maths
(python_impl.bench.bare_epoch), interleaved, and the machine's sgemm floor (training FLOPs per
epoch / measured sgemm FLOP/s).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.contenders import MLP_BINARY as MLP  # noqa: E402
from harness.prepare import make_spec, write_inits, write_spec  # noqa: E402
from python_impl.bench import bare_epoch  # noqa: E402
from python_impl.data import load_dataset  # noqa: E402
from python_impl.model import BatchedTrainer, train_epoch  # noqa: E402
from python_impl.modelfile import load_model  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
LAYERS = [784, 256, 10]
BATCH = 512
LEARNING_RATE = 0.1


@dataclass
class Contender:
    """One process configuration to time."""

    label: str
    argv: list[str]  # program, before `train`
    algorithm: str
    threads: int
    epochs: list[float]  # per-epoch train_seconds collected over all rounds (warm-up dropped)


def run_contender(c: Contender, spec: Path, init: Path, workdir: Path) -> None:
    """Run one process; append its per-epoch training seconds (first epoch dropped)."""
    metrics = workdir / f"{c.label.replace(' ', '_')}.jsonl"
    metrics.unlink(missing_ok=True)
    argv = [
        *c.argv,
        "train",
        "--spec",
        str(spec),
        "--init",
        str(init),
        "--algorithm",
        c.algorithm,
        "--threads",
        str(c.threads),
        "--metrics-out",
        str(metrics),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 1:  # 1 = max_epochs reached below the (unreachable) target
        sys.exit(f"error: {c.label} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    events = [json.loads(line) for line in metrics.read_text().splitlines()]
    c.epochs += [e["train_seconds"] for e in events if e["event"] == "epoch" and e["epoch"] > 1]


def library_vs_bare(data, params: list, threads: int, repeats: int = 3) -> dict[str, list]:
    """Epoch seconds of python_impl's trainer and of a bare NumPy loop, interleaved in-process.

    No process start-up, loading or evaluation: this isolates the reference's own overhead.
    """
    lib = [(w.copy(), b.copy()) for w, b in params]
    bare = [(w.copy(), b.copy()) for w, b in params]
    trainer = BatchedTrainer(lib, "relu", "softmax_cross_entropy", LEARNING_RATE, BATCH)
    times: dict[str, list] = {"library": [], "bare": []}
    with threadpool_limits(threads, user_api="blas"):
        for _ in range(repeats):
            start = time.perf_counter()
            train_epoch(trainer, data.train_x, data.train_y, BATCH)
            times["library"].append(time.perf_counter() - start)
            start = time.perf_counter()
            bare_epoch(bare, data.train_x, data.train_y, BATCH, LEARNING_RATE)
            times["bare"].append(time.perf_counter() - start)
    return times


def sgemm_gflops(threads: int) -> float:
    """Best-of sgemm throughput on the network's largest product (B x 784 by 784 x 256)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((BATCH, 784), dtype=np.float32)
    b = rng.standard_normal((784, 256), dtype=np.float32)
    out = np.empty((BATCH, 256), dtype=np.float32)
    with threadpool_limits(threads, user_api="blas"):
        best = min(_timed(lambda: np.matmul(a, b, out=out), 50) for _ in range(5))
    return 2 * BATCH * 784 * 256 / best / 1e9


def _timed(fn, repeat: int) -> float:
    """Mean seconds per call over `repeat` calls."""
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def training_flops(samples: int) -> float:
    """FLOPs of one epoch: per layer, forward X W^T, weight gradient d^T X, and (past the
    first layer) the back-propagated d W: 2 * n * in * out each."""
    per_sample = sum(2 * i * o for i, o in itertools.pairwise(LAYERS))
    backprop_input = sum(2 * i * o for i, o in itertools.pairwise(LAYERS[1:]))
    return samples * (2 * per_sample + backprop_input)


def contenders(threads: list[int], torch_python: str | None) -> list[Contender]:
    """Every configuration to time, NumPy first (the reference)."""
    py = [sys.executable, "-m", "python_impl"]
    out = [Contender(f"numpy batched {t}t", py, "batched", t, []) for t in threads]
    out.append(Contender("numpy per-sample 1t", py, "per-sample", 1, []))
    if torch_python:
        tp = [torch_python, "-m", "python_impl", "--backend", "torch"]
        out += [Contender(f"torch batched {t}t", tp, "batched", t, []) for t in threads]
    out += [Contender(f"rust batched {t}t", [str(MLP)], "batched", t, []) for t in threads]
    out.append(Contender("rust per-sample 1t", [str(MLP)], "per-sample", 1, []))
    return out


def main() -> int:
    """Time every contender, then print one table of medians and ratios to NumPy."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=FASHION, help="folder with the 4 IDX files")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per process (first dropped)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of all contenders")
    ap.add_argument("--threads", default="1,2", help="thread counts for the batched runs")
    ap.add_argument("--torch-python", help="a Python with torch installed, to add torch rows")
    args = ap.parse_args()
    if not MLP.exists():
        sys.exit(f"error: {MLP} not found; build it: (cd rust_impl && cargo build --release)")
    threads = [int(t) for t in args.threads.split(",")]
    data = load_dataset(args.data_dir)
    n = len(data.train_x)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # The harness's own spec and initial model, with an unreachable target: every epoch runs.
        spec = workdir / "spec.json"
        write_spec(spec, make_spec(args.data_dir.name, args.data_dir, 1.0, args.epochs))
        init = write_inits(workdir, LAYERS, [1])[1]
        params = load_model(init, LAYERS)
        table = contenders(threads, args.torch_python)
        for r in range(args.rounds):
            for c in table:
                print(f"round {r + 1}/{args.rounds}: {c.label}", file=sys.stderr)
                run_contender(c, spec, init, workdir)
        in_process = {t: library_vs_bare(data, params, t) for t in threads}
        gflops = {t: sgemm_gflops(t) for t in threads}

    shape = "-".join(map(str, LAYERS))
    print(f"\nseconds per training epoch, {args.data_dir} ({n} samples, batch {BATCH}, {shape}),")
    print(f"median of {args.rounds} rounds x {args.epochs - 1} epochs (first epoch dropped)\n")
    print(f"{'contender':<22} {'median s':>9} {'min s':>8} {'vs numpy':>9}")
    ref = {c.threads: statistics.median(c.epochs) for c in table if c.label.startswith("numpy b")}
    ref_ps = statistics.median(next(c for c in table if c.label == "numpy per-sample 1t").epochs)
    for c in table:
        med = statistics.median(c.epochs)
        base = ref_ps if c.algorithm == "per-sample" else ref[c.threads]
        print(f"{c.label:<22} {med:9.3f} {min(c.epochs):8.3f} {med / base:8.2f}x")
    for t in threads:
        lib, bare = (statistics.median(in_process[t][k]) for k in ("library", "bare"))
        print(f"{f'in-process library {t}t':<22} {lib:9.3f} {'':>8} {lib / bare:8.2f}x of bare")
        print(f"{f'in-process bare loop {t}t':<22} {bare:9.3f}")
    flops = training_flops(n)
    for t in threads:
        floor = flops / (gflops[t] * 1e9)
        print(
            f"{f'sgemm floor {t}t':<22} {floor:9.3f} {'':>8} {floor / ref[t]:8.2f}x"
            f"   ({gflops[t]:.0f} GFLOP/s, {flops / 1e9:.1f} GFLOP per epoch)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
