"""The hardware floor: training FLOPs per epoch and the machine's measured sgemm rate.

A contender's training is, to first order, a sequence of single-precision matrix products
(sgemm). Dividing the FLOPs of one training epoch by the rate at which this machine's BLAS runs
the network's own product shapes gives the time an epoch would take if it were nothing but those
products at full speed: the floor. The report shows how close each contender gets to it
(`floor_fraction`).

FLOP convention (a multiply-add counts 2). For a layer mapping `in` inputs to `out` outputs and
one sample:

    forward           z = x W^T          2 * in * out
    weight gradient   dW += delta^T x    2 * in * out
    input gradient    delta_below = delta W   2 * in * out   (every layer but the first: nobody
                                                              needs the gradient of the pixels)

Bias additions, bias gradients, activations and the loss are O(out) per sample, and the SGD
update is 2 * in * out per mini-batch, not per sample; all are left out (for 784-256-10 at batch
512 they add about 0.3 %). Evaluation is the forward pass only.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from harness.errors import HarnessError


def _pairs(layers: list[int]) -> list[tuple[int, int]]:
    """The (in, out) size of every layer; at least one layer, every size positive."""
    if len(layers) < 2 or any(size < 1 for size in layers):
        raise ValueError(f"layers must be two or more positive sizes, got {layers}")
    return list(itertools.pairwise(layers))


def training_flops(layers: list[int], train_samples: int) -> float:
    """FLOPs of one training epoch: per sample, 3 * 2 * in * out per layer, the first layer 2 * 2.

    [784, 256, 10] with 60,000 samples: 60000 * (4 * (784*256 + 256*10) + 2 * 256*10)
    = 49,090,560,000, the 49.1 GFLOP benchmarks/epoch_times.py prints.
    """
    pairs = _pairs(layers)
    forward_and_weight = sum(4 * i * o for i, o in pairs)
    input_gradient = sum(2 * i * o for i, o in pairs[1:])
    return float(train_samples * (forward_and_weight + input_gradient))


def eval_flops(layers: list[int], test_samples: int) -> float:
    """FLOPs of evaluating `test_samples` samples: the forward products only, 2 * in * out each."""
    return float(test_samples * sum(2 * i * o for i, o in _pairs(layers)))


@dataclass(frozen=True)
class SgemmRate:
    """The best sgemm rate at one BLAS thread count, over the network's products for one batch.

    gflops = (FLOPs of the whole set of products) / best_seconds / 1e9, where best_seconds is the
    fastest of `repeats` timed runs of the set. blas_* name the BLAS NumPy used (threadpoolctl).
    """

    threads: int
    gflops: float
    best_seconds: float
    repeats: int
    batch: int
    layers: tuple[int, ...]
    blas_api: str | None
    blas_version: str | None
    blas_architecture: str | None

    def to_json(self) -> dict[str, Any]:
        """A plain dict for a results-folder JSON file."""
        out = asdict(self)
        out["layers"] = list(self.layers)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SgemmRate:
        """The rate `to_json` stored; HarnessError naming the fields when they do not match."""
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise HarnessError(f"sgemm rate: expected the fields {sorted(names)}, got {got}")
        return cls(**{**data, "layers": tuple(data["layers"])})


def _numpy_blas() -> dict[str, Any]:
    """threadpoolctl's record of NumPy's BLAS (the one under numpy's folder when several)."""
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    ours = [p for p in pools if "numpy" in str(p.get("filepath", ""))]
    return (ours or pools or [{}])[0]


def _product_set(layers: list[int], batch: int) -> tuple[list[tuple[Any, ...]], float]:
    """Operands of every product of one training step, laid out as the NumPy reference has them.

    Per layer with W (out x in), activations X (B x in) and deltas D (B x out):
    forward X W^T (B x out), weight gradient D^T X (out x in), input gradient D W (B x in) for
    every layer but the first. Returns (a, b, out) triples and the FLOPs of the set.
    """
    rng = np.random.default_rng(0)

    def rand(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    products: list[tuple[Any, ...]] = []
    flops = 0
    for k, (i, o) in enumerate(_pairs(layers)):
        w, x, d = rand(o, i), rand(batch, i), rand(batch, o)
        products.append((x, w.T, np.empty((batch, o), np.float32)))
        products.append((d.T, x, np.empty((o, i), np.float32)))
        flops += 4 * batch * i * o
        if k > 0:
            products.append((d, w, np.empty((batch, i), np.float32)))
            flops += 2 * batch * i * o
    return products, float(flops)


def _run_set(products: list[tuple[Any, ...]]) -> float:
    """Seconds to run every product once."""
    start = time.perf_counter()
    for a, b, out in products:
        np.matmul(a, b, out=out)
    return time.perf_counter() - start


def measure_sgemm(
    layers: list[int], batch: int, threads: list[int], budget_seconds: float = 3.0
) -> dict[int, SgemmRate]:
    """Best sgemm rate on the network's product shapes at each BLAS thread count.

    The budget is split evenly over the thread counts. In each share: warm up (the set runs
    repeatedly for a tenth of the share, at least once: the BLAS starts its threads and caches
    fill), then time whole sets until the share is spent, at least once; the minimum is the
    least disturbed run. A set slower than the whole budget (a huge network) still runs twice.
    """
    if batch < 1 or not threads or any(t < 1 for t in threads) or budget_seconds <= 0:
        raise ValueError(f"need batch >= 1, thread counts >= 1, budget > 0: {batch} {threads}")
    products, flops = _product_set(layers, batch)
    share = budget_seconds / len(threads)
    rates: dict[int, SgemmRate] = {}
    for t in threads:
        with threadpool_limits(t, user_api="blas"):
            warm_end = time.perf_counter() + share / 10
            while True:
                _run_set(products)
                if time.perf_counter() >= warm_end:
                    break
            end = time.perf_counter() + share * 0.9
            times = [_run_set(products)]
            while time.perf_counter() + min(times) < end:
                times.append(_run_set(products))
            blas = _numpy_blas()
        best = min(times)
        rates[t] = SgemmRate(
            threads=t,
            gflops=flops / best / 1e9,
            best_seconds=best,
            repeats=len(times),
            batch=batch,
            layers=tuple(layers),
            blas_api=blas.get("internal_api"),
            blas_version=blas.get("version"),
            blas_architecture=blas.get("architecture"),
        )
    return rates


def floor_fraction(train_seconds_per_epoch: float, flops_per_epoch: float, gflops: float) -> float:
    """The fraction of the measured sgemm rate a contender's training reaches.

    (flops_per_epoch / train_seconds_per_epoch) / (gflops * 1e9); equivalently the floor time
    (flops / rate) over the contender's epoch time. 1.0 would mean pure sgemm at full speed.
    """
    if train_seconds_per_epoch <= 0 or gflops <= 0:
        raise ValueError(f"need positive seconds and rate: {train_seconds_per_epoch}, {gflops}")
    return flops_per_epoch / train_seconds_per_epoch / (gflops * 1e9)


def rates_to_json(rates: dict[int, SgemmRate]) -> dict[str, Any]:
    """Rates keyed by thread count, as a plain dict (JSON keys are strings)."""
    return {str(t): rate.to_json() for t, rate in rates.items()}


def rates_from_json(data: dict[str, Any]) -> dict[int, SgemmRate]:
    """The rates `rates_to_json` stored."""
    if not isinstance(data, dict) or not all(k.isdigit() for k in data):
        raise HarnessError("sgemm rates: expected an object keyed by thread count")
    return {int(t): SgemmRate.from_json(rate) for t, rate in data.items()}
