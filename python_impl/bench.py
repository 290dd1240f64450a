"""Seconds per epoch: the library's batched trainer against a bare NumPy loop of the same maths.

    python -m python_impl.bench [--data-dir DIR] [--repeats R] [--threads N] [--batch-size B]

Both start from the same He-normal weights and run one epoch of 784-256-10 ReLU softmax
SGD, interleaved, R times each; the minimum and median are printed (no process start-up,
no data loading, no evaluation). The bare loop is what one writes without care for
temporaries; the library should be no slower.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from python_impl.data import load_dataset
from python_impl.model import BatchedTrainer, Params, he_normal, train_epoch


@dataclass(frozen=True)
class BenchConfig:
    """What to time."""

    data_dir: str = "/usr/share/datasets/fashion-mnist"  # Debian's full-size Fashion-MNIST
    repeats: int = 3  # epochs timed per variant (interleaved)
    threads: int = 1  # BLAS threads
    batch_size: int = 512  # samples per SGD step
    learning_rate: float = 0.1  # SGD step size
    seed: int = 42  # He-normal seed of the shared initial weights


def bare_epoch(params: Params, x: np.ndarray, y: np.ndarray, batch_size: int, lr: float) -> float:
    """The same maths written plainly (2 layers, ReLU, softmax cross-entropy)."""
    (w1, b1), (w2, b2) = params
    total = 0.0
    for s in range(0, len(x), batch_size):
        xb, yb = x[s : s + batch_size], y[s : s + batch_size]
        rows = np.arange(len(xb))
        z1 = xb @ w1.T + b1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ w2.T + b2
        shifted = z2 - z2.max(axis=1, keepdims=True)
        p = np.exp(shifted)
        s_ = p.sum(axis=1, keepdims=True)
        total += float(np.sum(np.log(s_[:, 0]) - shifted[rows, yb], dtype=np.float64))
        p /= s_
        p[rows, yb] -= 1
        d2 = p
        d1 = (d2 @ w2) * (z1 > 0)
        scale = np.float32(lr / len(xb))
        w2 -= scale * (d2.T @ a1)
        b2 -= scale * d2.sum(axis=0)
        w1 -= scale * (d1.T @ xb)
        b1 -= scale * d1.sum(axis=0)
    return total


def main(argv: list[str] | None = None) -> None:
    """Print seconds per epoch of both variants and their ratio."""
    defaults = BenchConfig()
    p = argparse.ArgumentParser(prog="python -m python_impl.bench", description=__doc__)
    p.add_argument("--data-dir", default=defaults.data_dir)
    p.add_argument("--repeats", type=int, default=defaults.repeats)
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    a = p.parse_args(argv)
    cfg = BenchConfig(a.data_dir, a.repeats, a.threads, a.batch_size)
    data = load_dataset(cfg.data_dir)
    x, y = data.train_x, data.train_y
    layers = [x.shape[1], 256, 10]
    lib = he_normal(layers, cfg.seed)
    bare = he_normal(layers, cfg.seed)
    output = "softmax_cross_entropy"
    trainer = BatchedTrainer(lib, "relu", output, cfg.learning_rate, cfg.batch_size)
    times: dict[str, list[float]] = {"library": [], "bare": []}
    with threadpool_limits(limits=cfg.threads, user_api="blas"):
        for _ in range(cfg.repeats):
            t = time.perf_counter()
            train_epoch(trainer, x, y, cfg.batch_size)
            times["library"].append(time.perf_counter() - t)
            t = time.perf_counter()
            bare_epoch(bare, x, y, cfg.batch_size, cfg.learning_rate)
            times["bare"].append(time.perf_counter() - t)
    drift = max(float(np.abs(w - v).max()) for (w, _), (v, _) in zip(lib, bare, strict=True))
    print(f"{len(x)} samples, batch {cfg.batch_size}, {cfg.threads} thread(s), ", end="")
    print(f"{cfg.repeats} epochs each")
    for name, ts in times.items():
        print(f"{name:8s} min {min(ts):.3f} s/epoch  median {statistics.median(ts):.3f} s/epoch")
    ratio = min(times["library"]) / min(times["bare"])
    print(f"library / bare (min): {ratio:.3f}   max |W_library - W_bare|: {drift:.2e}")


if __name__ == "__main__":
    main()
