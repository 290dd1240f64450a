"""The training run behind ``train``: spec, metrics, data, init, the epoch loop, stop rules.

Choices CONTRACT.md leaves open, made here:
- ``--max-steps K`` stops right after step K, even when K ends an epoch: that epoch gets no
  epoch line and is not counted in ``epochs``; its training time is counted in the end event's
  ``train_seconds``. A step event's ``loss`` is the mean loss of that mini-batch.
- Divergence at the n-th step of the run (1-based, the step that was not applied) reports
  ``step n``; its end event carries the last epoch's test count (null before the first).
- The end event is written before the model file (a failing save then exits 2 after it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from python_impl import __version__
from python_impl.data import Dataset, load_dataset
from python_impl.errors import Diverged, InputError, shown
from python_impl.metrics import MetricsWriter
from python_impl.model import (
    BatchedTrainer,
    Params,
    PerSampleTrainer,
    batches,
    count_correct,
    he_normal,
)
from python_impl.modelfile import load_model, save_model
from python_impl.spec import MAX_ELEMENTS, Spec, compact, load_spec

EXIT_OK, EXIT_MAX_EPOCHS = 0, 1


@dataclass(frozen=True)
class Options:
    """The ``train`` subcommand's flags."""

    spec: str  # SPEC.json
    init: str | None = None  # start from this model file instead of the spec's init
    algorithm: str = "batched"  # "batched" or "per-sample"
    threads: int = 1  # compute threads (BLAS threads for NumPy)
    metrics_out: str | None = None  # JSON Lines file, appended
    save_model: str | None = None  # final model, written whatever the status but diverged
    max_steps: int | None = None  # stop after this many SGD steps, ignoring the target


class Engine(Protocol):
    """A backend's model bound to its data: what the loop needs."""

    def step(self, batch: slice) -> float:
        """One SGD step on the training samples `batch`; returns their loss sum."""

    def count_correct(self) -> int:
        """Correct predictions on the whole test set."""

    def params(self) -> Params:
        """The current weights as NumPy float32 arrays."""


class Backend(Protocol):
    """How to run one implementation: its name, thread setup and engine."""

    implementation: str

    def configure(self, threads: int) -> dict[str, Any]:
        """Limit compute threads; returns the start event's extras."""

    def engine(self, spec: Spec, data: Dataset, params: Params, algorithm: str) -> Engine:
        """The engine that trains `params` on `data`."""


class NumpyEngine:
    """The NumPy reference: BatchedTrainer or PerSampleTrainer over in-memory arrays."""

    def __init__(self, spec: Spec, data: Dataset, params: Params, algorithm: str) -> None:
        self.spec, self.data, self._params = spec, data, params
        args = (params, spec.hidden_activation, spec.output, spec.learning_rate)
        if algorithm == "batched":
            batch = min(spec.batch_size, len(data.train_y))  # buffers for the largest batch
            self.trainer = BatchedTrainer(*args, max_batch=batch)
        else:
            self.trainer = PerSampleTrainer(*args)

    def step(self, batch: slice) -> float:
        return self.trainer.step(self.data.train_x[batch], self.data.train_y[batch])

    def count_correct(self) -> int:
        d = self.data
        return count_correct(self._params, self.spec.hidden_activation, d.test_x, d.test_y)

    def params(self) -> Params:
        return self._params


def blas_info() -> dict[str, Any]:
    """The BLAS library NumPy uses, as threadpoolctl reports it (nulls when none is found)."""
    found = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    lib = found[0] if found else {}
    keys = ("internal_api", "version", "architecture", "num_threads")
    return {key: lib.get(key) for key in keys}


class NumpyBackend:
    """``--backend numpy``: implementation "python-numpy", BLAS threads via threadpoolctl."""

    implementation = "python-numpy"

    def configure(self, threads: int) -> dict[str, Any]:
        self._limits = threadpool_limits(limits=threads, user_api="blas")  # kept for the run
        return {"blas": blas_info(), "numpy": np.__version__}

    def engine(self, spec: Spec, data: Dataset, params: Params, algorithm: str) -> Engine:
        return NumpyEngine(spec, data, params, algorithm)


def check_against_data(spec: Spec, data: Dataset) -> None:
    """layers[0] must be the number of pixels of each image, and one pass over the largest of
    a training batch and the test set must hold fewer than 2^31 activations (samples x units)."""
    pixels = data.rows * data.cols
    if spec.layers[0] != pixels:
        raise InputError(
            f"{spec.path}: layers[0]: expected {pixels} (the {data.rows}x{data.cols} pixels "
            f"of each image), got {spec.layers[0]}"
        )
    rows = max(min(spec.batch_size, len(data.train_y)), len(data.test_y))
    units = (MAX_ELEMENTS - 1) // rows
    if sum(spec.layers) > units:
        raise InputError(
            f"{spec.path}: layers: expected at most {units} units in all for passes of {rows} "
            f"samples (fewer than 2^31 activations), got {compact(list(spec.layers))}"
        )


def init_name(spec: Spec, init: str | None) -> str:
    """How the start event names the initial weights: the file (shown as the Rust binary shows
    a path), or he_normal:<seed>."""
    path = init if init is not None else spec.init.path
    return shown(path) if path is not None else f"he_normal:{spec.init.seed}"


def initial_params(spec: Spec, init: str | None) -> Params:
    """The initial weights: the --init file, else the spec's file or He-normal seed."""
    path = init if init is not None else spec.init.path
    if path is not None:
        return load_model(path, list(spec.layers))
    return he_normal(list(spec.layers), spec.init.seed)


def run(options: Options, backend: Backend, started: float) -> int:
    """Train as the contract says; returns the exit status (InputError/Diverged propagate).

    `started` is the monotonic time at which main() began (for wall_seconds).
    """
    spec = load_spec(options.spec)
    with MetricsWriter(options.metrics_out) as metrics:
        extras = backend.configure(options.threads)
        metrics.write(
            "start",
            implementation=backend.implementation,
            version=__version__,
            algorithm=options.algorithm,
            threads=options.threads,
            spec_sha256=spec.sha256,
            init=init_name(spec, options.init),
            **extras,
        )
        begin = time.perf_counter()
        data = load_dataset(spec.dataset_dir)
        check_against_data(spec, data)
        metrics.write(
            "data",
            load_seconds=time.perf_counter() - begin,
            train_samples=len(data.train_y),
            test_samples=len(data.test_y),
        )
        params = initial_params(spec, options.init)
        engine = backend.engine(spec, data, params, options.algorithm)
        return _loop(spec, options, engine, data, metrics, backend.implementation, started)


def _loop(
    spec: Spec,
    options: Options,
    engine: Engine,
    data: Dataset,
    metrics: MetricsWriter,
    implementation: str,
    started: float,
) -> int:
    """Epochs of SGD until the target, max_epochs, K steps, or a non-finite loss."""
    n, m = len(data.train_y), len(data.test_y)
    threshold = spec.target_accuracy * m  # reached when correct > threshold (float64)
    steps = epochs = 0
    train_total = 0.0
    correct: int | None = None
    status = "max_epochs"

    def end(status: str, correct: int | None) -> None:
        metrics.write(
            "end",
            status=status,
            epochs=epochs,
            steps=steps,
            test_correct=correct,
            test_accuracy=None if correct is None else correct / m,
            train_seconds=train_total,
            wall_seconds=time.perf_counter() - started,
        )

    with np.errstate(all="ignore"):  # a non-finite loss is detected below, not warned about
        for epoch in range(1, spec.max_epochs + 1):
            begin = time.perf_counter()
            loss_sum = 0.0
            for batch in batches(n, spec.batch_size):
                loss = engine.step(batch)
                if not math.isfinite(loss):
                    train_total += time.perf_counter() - begin
                    end("diverged", correct)  # the last epoch's count, null before any
                    raise Diverged(epoch, steps + 1)
                steps += 1
                loss_sum += loss
                if options.max_steps is not None:
                    metrics.write("step", step=steps, loss=loss / (batch.stop - batch.start))
                    if steps == options.max_steps:
                        break
            train_seconds = time.perf_counter() - begin
            train_total += train_seconds
            if steps == options.max_steps:
                status = "max_steps"
                break
            begin = time.perf_counter()
            correct = engine.count_correct()
            epochs = epoch
            metrics.write(
                "epoch",
                epoch=epoch,
                steps=steps,
                train_seconds=train_seconds,
                eval_seconds=time.perf_counter() - begin,
                train_loss=loss_sum / n,
                test_correct=correct,
                test_scored=m,
                test_accuracy=correct / m,
            )
            if options.max_steps is None and correct > threshold:
                status = "reached_target"
                break
        if status == "max_steps":
            correct = engine.count_correct()

    end(status, correct)
    if options.save_model is not None:
        metadata = {
            "implementation": implementation,
            "status": status,
            "steps": str(steps),
            "spec_sha256": spec.sha256,
        }
        save_model(options.save_model, engine.params(), metadata)
    return EXIT_MAX_EPOCHS if status == "max_epochs" else EXIT_OK
