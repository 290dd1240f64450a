"""cheat-threads: declares 1 thread (takes --threads 1, reports it in the start event) but
always runs its BLAS with 2 threads (threadpoolctl), on every CPU: it widens the CPU affinity
the harness pinned it to before NumPy starts its BLAS threads."""

from __future__ import annotations

import functools
import sys

import cheatkit

BLAS_THREADS = 2  # what it really uses

if __name__ == "__main__":
    cheatkit.run(sys.argv[1:], functools.partial(cheatkit.train, blas_threads=BLAS_THREADS))
