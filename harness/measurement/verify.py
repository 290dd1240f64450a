"""Parity: every contender trains K steps from one initial model; the results must agree.

Tolerance, derived from float32 rounding (unit roundoff u = 2^-24 ~ 6e-8). Contenders differ
only in summation order (BLAS blocking, threads, per-sample vs batched accumulation). A sum of
n terms reordered differs by about sqrt(n) * u * sum|terms|. One SGD step changes a weight by
lr * dW, each dW entry averaging B = 512 products |delta * x| <= ~1 after 784-term forward dot
products: one step's reordering error is ~ lr * sqrt(784) * u ~ 2e-7. Rounding can also flip
a ReLU whose pre-activation is within ~1e-7 of zero for one sample; that changes the unit's
weight gradients by up to |delta * x| / B, i.e. a weight by up to lr / B ~ 2e-4, typically
~lr * 0.1 / B ~ 2e-5 (observed: 2.4e-5 between NumPy batched and per-sample after one
mnist-mini epoch). Such independent events add like a random walk, hence sqrt(K). We allow
ABS_TOL * sqrt(K) with ABS_TOL = 1e-4: ~10x the flips seen, while a real mistake (a wrong
gradient scale, a perturbed weight, a missed bias update) moves weights by ~1e-3 or more.
Step losses (mean cross-entropy ~ 2.3, accumulated in float64) must agree to LOSS_REL_TOL *
sqrt(k) relative to max(1, |loss|): a loss is a mean over the batch, so one flipped unit moves
it far less than a weight.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.measurement import procs
from harness.model.records import write_json
from harness.model.stream import read_stream
from harness.preparation.contenders import Contender

ABS_TOL = 1e-4  # per-element absolute tolerance after one step; scaled by sqrt(K)
LOSS_REL_TOL = 1e-4  # per-step loss tolerance, relative to max(1, |loss|); scaled by sqrt(k)
STDERR_TAIL = 400  # characters of a failing contender's stderr kept
PARITY_TIMEOUT = 600.0  # seconds a K-step parity run may take before it is killed


def abs_tolerance(steps: int) -> float:
    """The weight tolerance after `steps` optimizer steps: ABS_TOL * sqrt(K)."""
    return ABS_TOL * math.sqrt(steps)


@dataclass
class Trained:
    """One contender's K-step run: its exit status, saved model and per-step losses."""

    name: str
    exit_code: int
    model: Path
    losses: list[float] = field(default_factory=list)
    error: str = ""


def train_steps(
    c: Contender, spec: Path, init: Path, steps: int, work: Path, timeout: float = PARITY_TIMEOUT
) -> Trained:
    """Run one contender for `steps` steps with --max-steps, --save-model, --metrics-out."""
    model = work / "models" / f"{c.name}.safetensors"
    metrics = work / "metrics" / f"{c.name}.jsonl"
    model.parent.mkdir(parents=True, exist_ok=True)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.unlink(missing_ok=True)
    model.unlink(missing_ok=True)
    argv = c.argv(spec, str(init), str(metrics), str(model), ("--max-steps", str(steps)))
    done = procs.run(argv, timeout=timeout)
    code = 127 if done.code is None else done.code
    stderr = done.error or done.stderr
    if done.timed_out:
        stderr = f"timed out after {timeout:g} s (killed with its processes)"
    losses: list[float] = []
    if metrics.exists():
        for process in read_stream(metrics, strict=False).processes[:1]:
            losses = [math.nan if s["loss"] is None else float(s["loss"]) for s in process.steps]
    tail = stderr.strip()[-STDERR_TAIL:]
    return Trained(c.name, code, model, losses, tail)


def load_tensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file as float64 arrays (HarnessError when unreadable)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return {k: v.astype(np.float64) for k, v in load_file(str(path)).items()}
    except (OSError, SafetensorError, ValueError, TypeError) as exc:
        raise HarnessError(f"{path}: not a readable safetensors model ({exc})") from exc


def compare_models(a: Trained, b: Trained, steps: int) -> dict[str, Any]:
    """Per tensor max abs / max rel difference and pass/fail; step losses compared too."""
    tol = abs_tolerance(steps)
    ta, tb = load_tensors(a.model), load_tensors(b.model)
    tensors = []
    for name in sorted(set(ta) | set(tb)):
        if name not in ta or name not in tb or ta[name].shape != tb[name].shape:
            tensors.append(
                {
                    "tensor": name,
                    "max_abs": None,
                    "max_rel": None,
                    "passed": False,
                    "note": "missing or different shape",
                }
            )
            continue
        diff = np.abs(ta[name] - tb[name])
        scale = np.maximum(np.abs(ta[name]), np.abs(tb[name]))
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        max_abs = float(diff.max(initial=0.0))
        tensors.append(
            {
                "tensor": name,
                "max_abs": max_abs,
                "max_rel": float(rel.max(initial=0)),
                "passed": max_abs <= tol,
            }
        )
    loss_diffs = [
        abs(la - lb) / max(1.0, abs(lb)) / math.sqrt(k)
        for k, (la, lb) in enumerate(zip(a.losses, b.losses, strict=False), start=1)
    ]
    losses_ok = len(a.losses) == len(b.losses) and all(d <= LOSS_REL_TOL for d in loss_diffs)
    return {
        "a": a.name,
        "b": b.name,
        "tolerance_abs": tol,
        "tensors": tensors,
        "loss_max_scaled_diff": max(loss_diffs, default=None),
        "losses_passed": losses_ok,
        "passed": losses_ok and all(t["passed"] for t in tensors),
    }


def _checked(t: Trained) -> Trained:
    """A run that exited 0 must have saved a readable model; else its error says why."""
    if t.exit_code != 0:
        return t
    problem = ""
    if not t.model.exists():
        problem = f"{t.model}: exited 0 without saving a model"
    else:
        try:
            load_tensors(t.model)
        except HarnessError as exc:
            problem = str(exc)
    return replace(t, error=problem) if problem else replace(t, error="")


def verify(
    contenders: list[Contender], spec: Path, init: Path, steps: int, work: Path
) -> dict[str, Any]:
    """Train each contender K steps and compare every pair; the parity.json content."""
    trained = [_checked(train_steps(c, spec, init, steps, work)) for c in contenders]
    ok = [t for t in trained if t.exit_code == 0 and not t.error]
    pairs = [compare_models(a, b, steps) for a, b in itertools.combinations(ok, 2)]
    status = "passed" if len(ok) == len(trained) and all(p["passed"] for p in pairs) else "failed"
    return {
        "status": status,
        "steps": steps,
        "init": str(init),
        "tolerance": {
            "abs": abs_tolerance(steps),
            "loss_rel_per_sqrt_step": LOSS_REL_TOL,
            "rule": f"|a - b| <= {ABS_TOL:g} * sqrt(K) per weight (float32 reordering bound)",
        },
        "contenders": {
            t.name: {
                "exit_code": t.exit_code,
                "ran": t in ok,
                "error": t.error,
                "step_losses": t.losses,
            }
            for t in trained
        },
        "pairs": pairs,
    }


def write_parity(path: Path, result: dict[str, Any]) -> None:
    """Save a verify() result as parity.json."""
    write_json(path, result)


def format_table(result: dict[str, Any]) -> str:
    """The parity table: one line per pair, its verdict naming the tensors outside tolerance.

    The tolerance is absolute per weight; the largest relative difference is that of a
    weight near zero, so it is left to parity.json rather than shown beside the verdict.
    """
    tol = result["tolerance"]["abs"]
    lines = [
        f"parity after {result['steps']} steps (each weight within {tol:.2e} of the other's):",
        f"  {'pair':<48} {'max abs diff':>12} {'losses':>7}  result",
    ]
    for p in result["pairs"]:
        known = [t for t in p["tensors"] if t["max_abs"] is not None]
        worst = max((t["max_abs"] for t in known), default=None)
        max_abs = "n/a" if worst is None else f"{worst:.2e}"
        losses = "same" if p["losses_passed"] else "differ"
        failed = [t["tensor"] for t in p["tensors"] if not t.get("passed", True)]
        if p["passed"]:
            verdict = "ok: every weight within tolerance"
        elif failed:
            verdict = "FAIL: outside tolerance in " + ", ".join(failed)
        else:
            verdict = "FAIL: " + ("losses differ" if not p["losses_passed"] else "see parity.json")
        pair = f"{p['a']} vs {p['b']}"
        lines.append(f"  {pair:<48} {max_abs:>12} {losses:>7}  {verdict}")
    for name, c in result["contenders"].items():
        if not c["ran"]:
            lines.append(f"  {name}: did not finish (exit {c['exit_code']}): {c['error']}")
    lines.append(f"parity {result['status']}")
    return "\n".join(lines)
