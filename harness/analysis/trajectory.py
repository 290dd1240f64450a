"""Same computation, checked over the whole run: every epoch of every run against the reference.

Parity (verify) checks K steps. A contender can behave under `--max-steps` and change
what it computes afterwards (a larger learning rate, steps on the test set, a subset scored).
So each valid run's epoch log is compared, epoch by epoch, with the reference implementation's
run of the same seed (same initial model, same batches, so the same curve up to float rounding):

    |loss - loss_ref| / max(1, |loss_ref|)  <=  LOSS_REL_TOL * sqrt(k)
    |correct - correct_ref|                  <=  COUNT_FLOOR + test_samples * LOSS_REL_TOL * sqrt(k)

where k is the reference's optimizer steps at that epoch. The loss band is parity's own loss
rule (verify: reordering errors add like a random walk over k steps). The count band
carries the same relative drift over the test set, plus COUNT_FLOOR digits for predictions that
flip on a near-tie (the referee's tolerance, +1). Measured on mnist-mini (20 epochs, 200
steps; 2026-12-04, AMD EPYC VM): NumPy at 2 threads, Rust batched at 1 and 2 threads and Rust
per-sample stayed within 1e-5 of NumPy's loss (relative) and 1 test digit at every epoch,
against bands of 1.4e-3 and 17 digits there; a learning rate tripled after the parity steps
(tests/cheats/lr.py) moved the next epoch's loss by 15 % (1.026 vs 1.203).

A run that stops earlier than the reference's run of its seed is `fewer_epochs` unless the
reference was itself within the count band of the threshold at that epoch (float rounding at
the threshold, which can move the stopping epoch by one either way).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.measurement.verify import LOSS_REL_TOL

COUNT_FLOOR = 3  # test digits: near-ties that flip (referee.EVALUATOR_TOLERANCE + 1)


def loss_band(steps: float) -> float:
    """The allowed |loss - loss_ref| / max(1, |loss_ref|) after `steps` steps."""
    return LOSS_REL_TOL * math.sqrt(max(steps, 1.0))


def count_band(steps: float, test_samples: int) -> float:
    """The allowed |correct - correct_ref| after `steps` steps."""
    return COUNT_FLOOR + test_samples * loss_band(steps)


def check_run(
    run: pd.DataFrame, ref: pd.DataFrame, test_samples: int, target: float | None
) -> dict[str, Any] | None:
    """The first departure of one run's epochs from the reference's (both indexed by epoch).

    target None: the run did not claim the target (it failed), so its early stop is no gain.
    """
    for epoch in run.index.intersection(ref.index):
        mine, theirs = run.loc[epoch], ref.loc[epoch]
        steps = float(theirs["steps"]) if pd.notna(theirs["steps"]) else float(epoch)
        loss, loss_ref = mine["train_loss"], theirs["train_loss"]
        if pd.notna(loss) and pd.notna(loss_ref):
            off = abs(loss - loss_ref) / max(1.0, abs(loss_ref))
            if off > loss_band(steps):
                return {
                    "code": "trajectory",
                    "epoch": int(epoch),
                    "detail": f"epoch {int(epoch)}: train loss {loss:.6g} vs the reference's "
                    f"{loss_ref:.6g} (band {loss_band(steps):.1e} relative)",
                }
        count, count_ref = mine["test_correct"], theirs["test_correct"]
        if pd.notna(count) and pd.notna(count_ref):
            band = count_band(steps, test_samples)
            if abs(count - count_ref) > band:
                return {
                    "code": "trajectory",
                    "epoch": int(epoch),
                    "detail": f"epoch {int(epoch)}: {int(count)} test digits correct vs the "
                    f"reference's {int(count_ref)} (band ±{band:.0f})",
                }
    last, last_ref = int(run.index.max()), int(ref.index.max())
    if last < last_ref and last in ref.index and target is not None:
        theirs = ref.loc[last]
        steps = float(theirs["steps"]) if pd.notna(theirs["steps"]) else float(last)
        threshold = target * test_samples
        if pd.notna(theirs["test_correct"]) and (
            threshold - float(theirs["test_correct"]) > count_band(steps, test_samples)
        ):
            return {
                "code": "fewer_epochs",
                "epoch": last,
                "detail": f"stopped after {last} epochs where the reference needed {last_ref} "
                f"(the reference had {int(theirs['test_correct'])} correct at epoch {last}, "
                f"short of the target's {threshold:.0f})",
            }
    return None


def departures(
    epochs: pd.DataFrame | None,
    reference_names: set[str],
    target: float | None,
    reached: set[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """contender -> its runs' departures (seed, run_index, code, detail) from the reference's
    curve of the same seed; reference_names are the reference implementation's contenders,
    `reached` the run_ids that claim the target (only they can gain by stopping early)."""
    if epochs is None or epochs.empty or not reference_names:
        return {}
    samples = test_samples(epochs)
    if not samples:
        return {}
    frame = epochs.dropna(subset=["epoch"]).copy()
    frame["epoch"] = frame["epoch"].astype(int)
    refs = frame[frame["contender"].isin(reference_names)]
    found: dict[str, list[dict[str, Any]]] = {}
    for (name, seed, run_index), run in frame.groupby(["contender", "seed", "run_index"]):
        if name in reference_names:
            continue
        of_seed = refs[refs["seed"] == seed]
        if of_seed.empty:
            continue
        first = of_seed.sort_values(["contender", "run_index"]).iloc[0]
        ref = of_seed[
            (of_seed["contender"] == first["contender"])
            & (of_seed["run_index"] == first["run_index"])
        ]
        claims = reached is None or bool(set(run["run_id"]) & reached)
        problem = check_run(
            run.set_index("epoch"), ref.set_index("epoch"), samples, target if claims else None
        )
        if problem:
            found.setdefault(str(name), []).append(
                {"seed": str(seed), "run_index": int(run_index), **problem}
            )
    return found


def test_samples(epochs: pd.DataFrame) -> int | None:
    """The test set's size, from the epoch log (correct / accuracy)."""
    if epochs.empty:
        return None
    sizes = (epochs["test_correct"] / epochs["test_accuracy"]).dropna()
    sizes = sizes[sizes > 0]
    return round(float(sizes.median())) if len(sizes) else None
