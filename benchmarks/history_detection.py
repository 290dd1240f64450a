"""How often `history` finds a known step at its run, and calls a step in flat noise.

    python benchmarks/history_detection.py [--series 300]

Simulated histories (tests/data/history_factory.py): each run times a reference and a
contender 6 times side by side, every time jittered by 5 %; in the step series the contender
is 10 % slower from the middle run on. Each series goes through harness.pooling.history.analyse, the
same code `harness history` runs on the store.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from data.history_factory import History, runs  # noqa: E402

from harness.pooling.history import Point, analyse  # noqa: E402


def points(h: History) -> list[Point]:
    return [
        Point(r["ratio"], r["ci_low"], r["ci_high"], r["n"])
        for r in (run.ratios[0] for run in runs(h))
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=300, help="series per case (300)")
    args = parser.parse_args()
    for length in (12, 30):
        middle = length // 2
        exact = near = false = 0
        for seed in range(args.series):
            stepped = analyse(points(History(runs=length, step=0.10, step_at=middle, seed=seed)))
            found = [s.index for s in stepped.steps if s.confirmed]
            exact += middle in found
            near += any(abs(i - middle) <= 1 for i in found)
            flat = analyse(points(History(runs=length, seed=10_000 + seed)))
            false += any(s.confirmed for s in flat.steps)
        n = args.series
        print(
            f"{length} runs: 10 % step confirmed at its run {100 * exact / n:.0f} %, within one "
            f"run {100 * near / n:.0f} %; a step called in flat noise {100 * false / n:.1f} % "
            f"({n} series each)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
