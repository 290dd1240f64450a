"""Seconds per training epoch, side by side, for every contender on full-size data.

    python benchmarks/epoch_times.py [--data-dir DIR] [--epochs 3] [--rounds 5] [--threads 1,2]
                                     [--torch-python PY] [--baseline OLD_MLP_BINARY]

Each contender runs as the harness runs it (a whole process, same spec, same initial model,
target 1.0 so it trains exactly --epochs epochs and exits 1) and reports its own per-epoch
training seconds in its metrics stream; the first epoch of each process is dropped as warm-up.
Rounds interleave the contenders, and each round also measures the machine's sgemm rate, so
that machine noise hits all of them alike. Printed per contender: the median and the minimum
epoch, its fraction of the sgemm floor (training FLOPs per epoch at the best sgemm rate seen,
over its fastest epoch), and its ratio to NumPy three ways: of medians, of minima, and per
round (each round's minimum over NumPy's minimum in the same round; median and range over the
rounds). Shared VMs have slow spells: the per-round minima compare the contenders at moments
when each ran unhindered and close together in time. Beside them, measured in this process:
python_impl's trainer against a bare NumPy loop of the same maths
(python_impl.bench.bare_epoch), interleaved. Where NumPy's BLAS is an OpenBLAS file,
rust-numpy-blas (the Rust step on that file, `mlp --blas-library`) runs beside the others and
the Rust/NumPy ratio is split into its kernel and language factors.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.model.stream import read_stream  # noqa: E402
from harness.preparation import numpy_blas  # noqa: E402
from harness.preparation.contenders import MLP_BINARY as MLP  # noqa: E402
from harness.preparation.prepare import make_spec, write_inits, write_spec  # noqa: E402
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
    rounds: list[list[float]] = field(default_factory=list)  # per round: epoch seconds
    kernel: str = ""  # the start event's "gemm" (Rust): the product kernel it ran

    @property
    def epochs(self) -> list[float]:
        """Every timed epoch of every round."""
        return [e for r in self.rounds for e in r]


def run_contender(c: Contender, spec: Path, init: Path, workdir: Path) -> None:
    """Run one process; add its per-epoch training seconds (first epoch dropped) as a round."""
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
    process = read_stream(metrics, strict=True).processes[0]
    c.kernel = (process.start or {}).get("gemm", "")
    c.rounds.append([e["train_seconds"] for e in process.epochs if e["epoch"] > 1])


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
    """Best-of sgemm throughput (NumPy's BLAS) on the network's largest product (B x 784 by
    784 x 256)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((BATCH, 784), dtype=np.float32)
    b = rng.standard_normal((784, 256), dtype=np.float32)
    out = np.empty((BATCH, 256), dtype=np.float32)
    with threadpool_limits(threads, user_api="blas"):
        best = min(_timed(lambda: np.matmul(a, b, out=out), 50) for _ in range(3))
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


def contenders(
    threads: list[int], torch_python: str | None, baseline: Path | None
) -> list[Contender]:
    """Every configuration to time, NumPy first (the reference)."""
    py = [sys.executable, "-m", "python_impl"]
    out = [Contender(f"numpy batched {t}t", py, "batched", t, []) for t in threads]
    out.append(Contender("numpy per-sample 1t", py, "per-sample", 1, []))
    if torch_python:
        tp = [torch_python, "-m", "python_impl", "--backend", "torch"]
        out += [Contender(f"torch batched {t}t", tp, "batched", t, []) for t in threads]
    out += [Contender(f"rust batched {t}t", [str(MLP)], "batched", t, []) for t in threads]
    blas = numpy_blas.find()
    if blas.path:  # the Rust step on NumPy's own OpenBLAS file: kernel vs language
        twin = [str(MLP), "--blas-library", blas.path]
        out += [Contender(f"rust-numpy-blas batched {t}t", twin, "batched", t) for t in threads]
    else:
        print(f"note: rust-numpy-blas not available here: {blas.reason}", file=sys.stderr)
    out.append(Contender("rust per-sample 1t", [str(MLP)], "per-sample", 1, []))
    if baseline:  # another build of the crate, for an A/B of a change
        out += [
            Contender(f"baseline batched {t}t", [str(baseline)], "batched", t, []) for t in threads
        ]
    return out


def machine() -> str:
    """CPU model (lscpu's "Model name") and the load averages, for the record."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return f"{model}, load average {load}"


def ratio_range(values: list[float]) -> str:
    """median [min-max] of a list of ratios."""
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def per_round(c: Contender, ref: Contender) -> list[float]:
    """Each round's fastest epoch of `c` over the fastest of `ref` in the same round."""
    return [min(a) / min(b) for a, b in zip(c.rounds, ref.rounds, strict=True)]


def report(table: list[Contender], threads: list[int], floors: dict[int, float]) -> None:
    """The table: times, fraction of the sgemm floor, ratios to NumPy and between threads."""
    print(
        f"{'contender':<28} {'median s':>9} {'min s':>8} {'floor %':>8} {'x numpy med':>12}"
        f" {'x numpy min':>12} {'x numpy per round':>19}"
    )
    ref = {c.threads: c for c in table if c.label.startswith("numpy b")}
    ref_ps = next(c for c in table if c.label == "numpy per-sample 1t")
    for c in table:
        base = ref_ps if c.algorithm == "per-sample" else ref[c.threads]
        med, best = statistics.median(c.epochs), min(c.epochs)
        floor = f"{100 * floors[c.threads] / best:7.0f}%" if c.algorithm == "batched" else ""
        print(
            f"{c.label:<28} {med:9.3f} {best:8.3f} {floor:>8}"
            f" {med / statistics.median(base.epochs):11.2f}x {best / min(base.epochs):11.2f}x"
            f" {ratio_range(per_round(c, base)):>19}"
        )
    print("\nthread scaling (batched, t threads / 1 thread): of minima; per round median [range]")
    for name in sorted({c.label.split(" ")[0] for c in table}):
        one = next((c for c in table if c.label == f"{name} batched 1t"), None)
        for c in table:
            if one and c.label.startswith(f"{name} batched") and c.threads > 1:
                print(
                    f"{c.label:<28} {min(c.epochs) / min(one.epochs):9.2f}"
                    f"  {ratio_range(per_round(c, one))}"
                )
    decomposition(table)
    base = {c.threads: c for c in table if c.label.startswith("baseline")}
    if base:
        print("\nA/B, rust / baseline (batched): of minima; per round median [range]")
    for c in table:
        if c.label.startswith("rust batched") and c.threads in base:
            b = base[c.threads]
            ratio = min(c.epochs) / min(b.epochs)
            print(f"{c.label:<28} {ratio:9.2f}  {ratio_range(per_round(c, b))}")


def decomposition(table: list[Contender]) -> None:
    """Rust / NumPy = (rust / rust-numpy-blas: kernels) x (rust-numpy-blas / NumPy: language),
    epoch-time ratios (below 1: the Rust side faster): of minima; per round median [range]."""
    by = {c.label: c for c in table}
    rows = [t for t in sorted({c.threads for c in table}) if f"rust-numpy-blas batched {t}t" in by]
    if not rows:
        return
    print("\nkernel x language (epoch-time ratios, < 1: Rust side faster): of minima; per round")
    for t in rows:
        numpy, twin, rust = (by[f"{n} batched {t}t"] for n in ("numpy", "rust-numpy-blas", "rust"))
        for label, a, b in (
            (f"total rust/numpy {t}t", rust, numpy),
            (f"language blas/numpy {t}t", twin, numpy),
            (f"kernel rust/blas {t}t", rust, twin),
        ):
            ratio = min(a.epochs) / min(b.epochs)
            print(f"{label:<26} {ratio:5.2f}  {ratio_range(per_round(a, b))}")
    kernels = {c.kernel for c in table if c.label.startswith("rust batched") and c.kernel}
    for k in sorted(kernels):
        print(f"rust kernel: {k}")


def main() -> int:
    """Time every contender, then print one table of medians, minima and ratios to NumPy."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=FASHION, help="folder with the 4 IDX files")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per process (first dropped)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of all contenders")
    ap.add_argument("--threads", default="1,2", help="thread counts for the batched runs")
    ap.add_argument("--torch-python", help="a Python with torch installed, to add torch rows")
    ap.add_argument(
        "--baseline", type=Path, help="another mlp binary (an older build) timed beside, for an A/B"
    )
    args = ap.parse_args()
    if not MLP.exists():
        sys.exit(f"error: {MLP} not found; build it: (cd rust_impl && cargo build --release)")
    if args.rounds < 1 or args.epochs < 2:
        sys.exit("error: --rounds: expected at least 1 round and --epochs at least 2")
    threads = [int(t) for t in args.threads.split(",")]
    if 1 not in threads:
        threads.insert(0, 1)
    data = load_dataset(args.data_dir)
    n = len(data.train_x)
    started = machine()
    gflops: dict[int, list[float]] = {t: [] for t in threads}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # The harness's own spec and initial model, with an unreachable target: every epoch runs.
        spec = workdir / "spec.json"
        write_spec(spec, make_spec(args.data_dir.name, args.data_dir, 1.0, args.epochs))
        init = write_inits(workdir, LAYERS, [1])[1]
        params = load_model(init, LAYERS)
        table = contenders(threads, args.torch_python, args.baseline)
        for r in range(args.rounds):
            for c in table:
                print(f"round {r + 1}/{args.rounds}: {c.label}", file=sys.stderr)
                run_contender(c, spec, init, workdir)
            for t in threads:
                gflops[t].append(sgemm_gflops(t))
        in_process = {t: library_vs_bare(data, params, t) for t in threads}

    shape = "-".join(map(str, LAYERS))
    flops = training_flops(n)
    floors = {t: flops / (max(gflops[t]) * 1e9) for t in threads}
    print(f"\nseconds per training epoch, {args.data_dir} ({n} samples, batch {BATCH}, {shape}),")
    print(f"{args.rounds} interleaved rounds x {args.epochs - 1} epochs (first epoch dropped)")
    print(f"machine: {started} at the start; {machine()} at the end")
    for t in threads:
        print(
            f"sgemm floor {t}t: {floors[t]:.3f} s ({flops / 1e9:.1f} GFLOP per epoch at the best"
            f" of {max(gflops[t]):.0f} GFLOP/s; rounds {min(gflops[t]):.0f}-{max(gflops[t]):.0f})"
        )
    print()
    report(table, threads, floors)
    print()
    for t in threads:
        lib, bare = (statistics.median(in_process[t][k]) for k in ("library", "bare"))
        print(f"{f'in-process library {t}t':<22} {lib:9.3f} {'':>8} {lib / bare:8.2f}x of bare")
        print(f"{f'in-process bare loop {t}t':<22} {bare:9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
