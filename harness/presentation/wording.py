"""Every sentence and number format of the report stage (report.html, summary.md).

analysis.json holds numbers, names and codes; this module turns them into words. It imports
the standard library only, so rendering a report never loads numpy, pandas or matplotlib.
"""

from __future__ import annotations

from typing import Any

from harness.model.analysis import Analysis, Comparison, Note
from harness.model.evidence import MismatchCause
from harness.presentation.formats import num, p_text, pct

NO_PEER = "no same-thread reference: see the cross-thread ratios"
PART_WORDS = {
    "outside": "outside main (start-up, save, exit)",
    "load": "data load",
    "setup": "set-up in main",
    "train": "training",
    "eval": "evaluation",
}
PAIRING_WORDS = {
    "seed+round": "runs paired by seed and round (they ran close in time)",
    "seed+run_index": "runs paired by seed and run index",
    "independent": "independent samples (Welch's t on log times)",
}
# Figure name -> (title, caption), in report order; the plot stage draws those that apply.
FIGURES: dict[str, tuple[str, str]] = {
    "time_distribution": (
        "Time to target, every run",
        "Each dot is one timed process (hyperfine's wall time), the box its quartiles and the "
        "black bar under it the 95 % CI of the median. Read: boxes apart and CI bars apart "
        "mean a real difference; a lone dot far right is a slow spell of the machine.",
    ),
    "breakdown": (
        "Where the time goes",
        "The median run's wall time split into parts that add up to it: outside main "
        "(start-up, save, exit), data load, set-up in main, training and evaluation. Read: "
        "the longest part is what to optimise; bars of unequal length differ by the parts that "
        "differ.",
    ),
    "why": (
        "Training speed",
        "Training GFLOP/s (model FLOPs per epoch / median training seconds per epoch; the tick: "
        "this machine's sgemm rate at the contender's threads) and its fraction of that rate. "
        "Read: near 100 % the training is as fast as the BLAS allows; a bar past the cap is "
        "labelled with its value (a starved sgemm measurement, see the note above).",
    ),
    "accuracy": (
        "Test accuracy",
        "Test accuracy after each epoch, against elapsed wall time (left) and against epoch "
        "(right), one run per seed; dashed: the target. Read: curves that coincide on the "
        "right did the same arithmetic; on the left the one that crosses the target first wins.",
    ),
    "seconds_per_epoch": (
        "Seconds per epoch",
        "Median training seconds per epoch with its distribution-free 95 % CI. Read: the "
        "arithmetic alone, free of start-up and of differences in epochs to target.",
    ),
    "memory": (
        "Peak memory",
        "Median peak resident set size per process (hyperfine). Read: the interpreter and its "
        "libraries set most of it, the model and data little.",
    ),
    "thread_scaling": (
        "Thread scaling",
        "Left: median wall time (95 % CI) against threads, dotted: ideal scaling t1 / n. Right: "
        "speed-up over the fewest threads, dotted: ideal. Read: the gap to the dotted line is "
        "what the extra threads did not deliver (start-up and serial parts do not scale).",
    ),
}


def level(analysis: Analysis) -> str:
    """The CI level in words (`95 %`)."""
    return f"{100 * (1 - analysis.config.alpha):g} %"


# ---------------------------------------------------------------- names and sentences


def label(name: str, threads: Any) -> str:
    """The name with its thread count, so a claim never hides unequal resources."""
    if threads is None:
        return name
    return f"{name} ({int(threads)} thread{'s' if int(threads) != 1 else ''})"


def labels(analysis: Analysis) -> dict[str, str]:
    """Every contender's label."""
    return {c.name: label(c.name, c.threads) for c in analysis.contenders}


def comparison(cmp: Comparison, analysis: Analysis) -> str:
    """One contender against its reference, worded by the verdict the CI gives."""
    names = labels(analysis)
    who, ref = names.get(cmp.contender, cmp.contender), names.get(cmp.reference)
    ratio, low, high, kind = cmp.ratio, cmp.ci_low, cmp.ci_high, cmp.verdict
    if kind == "not_comparable":
        return f"{who} vs {ref}: not comparable: {integrity(cmp.contender, analysis)}"
    if kind == "unreliable":
        shown = "" if ratio is None else f" (ratio {ratio:.2f}, not judged)"
        return f"{who} vs {ref}: unreliable: {health(cmp, analysis)}{shown}"
    if ratio is None:
        return f"{who} vs {ref}: no comparable runs"
    if low is None:
        pairs = f"{cmp.n} pair" + ("s" if cmp.n != 1 else "")
        return f"{who} vs {ref}: ratio {ratio:.2f} from {pairs}, too few for a confidence interval"
    cfg, ci = analysis.config, f"{level(analysis)} CI"
    band = f"{cfg.equivalence_low:.2f}-{cfg.equivalence_high:.2f}"
    p = p_text(cmp.p_value)
    if kind == "faster":
        return f"{who} is {ratio:.2f}x faster than {ref} ({ci} {low:.2f}-{high:.2f}, {p})"
    if kind == "slower":
        return (
            f"{who} is {1 / ratio:.2f}x slower than {ref} ({ci} {1 / high:.2f}-{1 / low:.2f}, {p})"
        )
    if kind == "equivalent":
        return (
            f"{who} and {ref} are equivalent: ratio {ratio:.2f} "
            f"({ci} {low:.2f}-{high:.2f} lies within {band}, {p})"
        )
    return (
        f"{who} vs {ref}: inconclusive, ratio {ratio:.2f} ({ci} {low:.2f}-{high:.2f} holds 1 "
        f"but reaches outside {band}, {p}); more rounds would tell"
    )


def headline(analysis: Analysis) -> str:
    """The report's first sentence: the fastest like-for-like contender, plus per epoch."""
    best = next((c for c in analysis.comparisons if c.contender == analysis.headline), None)
    if best is None:
        ref = analysis.reference
        withheld = [c for c in analysis.comparisons if c.verdict == "unreliable"]
        if withheld:
            return (
                f"unreliable: {health(withheld[0], analysis)}; no verdict on this machine "
                "as it behaved (rerun on a quieter one)"
            )
        barred = [c for c in analysis.comparisons if c.verdict == "not_comparable"]
        if barred:
            names = labels(analysis)
            return "no verdict: " + "; ".join(
                f"{names[c.contender]} not comparable: {integrity(c.contender, analysis)}"
                for c in barred
            )
        if not analysis.comparisons and len(analysis.contenders) > 1:
            return f"no contender runs with the same threads as {ref}: see the cross-thread table"
        rows = {c.name: c for c in analysis.contenders}
        if ref in rows and rows[ref].successes:
            return f"only {ref} has usable runs: nothing to compare"
        return f"no usable runs of the reference {ref}: nothing to compare" if ref else "no runs"
    text = comparison(best, analysis)
    per_epoch = best.per_epoch
    if per_epoch is not None and per_epoch.ratio is not None:
        ci = ""
        if per_epoch.ci_low is not None:
            ci = f" ({level(analysis)} CI {per_epoch.ci_low:.2f}-{per_epoch.ci_high:.2f})"
        text += f"; seconds per epoch: {per_epoch.ratio:.2f}x{ci}"
    return text


CHECK_WORDS = {  # contender integrity codes (integrity, trajectory)
    "timeout": "timed out",
    "left_running": "left processes running after it exited",
    "no_end_at_exit": "exited before its end event",
    "nonce": "a stream not written by this run",
    "ended_after_clock": "its own clock ran past the process's end",
    "threads_exceeded": "more CPU than its declared threads",
    "partial_eval": "scored part of the test set",
    "too_fast": "faster than this machine's sgemm rate allows",
    "no_model": "no saved model",
    "model_unreadable": "an unreadable model",
    "referee_disagrees": "the harness's count of its model disagrees",
    "stream": "a metrics stream that breaks the contract",
    "trajectory": "not the same computation (its curve leaves the reference's)",
    "fewer_epochs": "not the same computation (fewer epochs than the reference)",
}


def integrity(name: str, analysis: Analysis) -> str:
    """Why a contender's runs are not vouched for: each reason, how many runs, one detail."""
    row = analysis.contender(name)
    reasons = row.integrity.reasons if row else []
    parts = []
    for r in reasons:
        runs = f" ({r.runs} run{'s' if r.runs != 1 else ''})" if r.runs else ""
        parts.append(f"{CHECK_WORDS.get(r.code, r.code)}{runs}: {r.detail}")
    return "; ".join(parts) or "its runs are not vouched for"


def health(cmp: Comparison, analysis: Analysis) -> str:
    """Why a reference cannot carry a verdict (harness.analysis.reliability), in words."""
    ref = labels(analysis).get(cmp.reference, cmp.reference)
    words = []
    for r in getattr(cmp, "reference_health", None) or []:
        code = r.code
        if code == "spread":
            words.append(
                f"two runs of {ref} on seed {r.seed} took {r.factor:.2f}x as long as each "
                f"other (over {r.limit:.2f}x)"
            )
        elif code == "slower_with_more_threads":
            words.append(f"{ref} ran {r.factor:.2f}x slower than {r.other} with fewer threads")
        elif code == "floor":
            words.append(
                f"{ref} trained at {pct(r.fraction)} of the sgemm rate measured at "
                f"{r.threads} thread(s) (the floor or the machine misbehaved)"
            )
        elif code == "busy":
            words.append(f"other processes used {pct(r.share)} of a core while measuring")
        else:
            words.append(f"{ref}'s own runs are not vouched for: {r.detail or code}")
    return "; ".join(words)


def why(cmp: Comparison, analysis: Analysis) -> str | None:
    """Where a like-for-like difference comes from: the parts that differ, the sgemm fraction."""
    saved = cmp.saved
    if not saved:
        return None
    rows = {c.name: c for c in analysis.contenders}
    floor = max(0.01, 0.05 * abs(saved.total))
    parts = sorted((p for p in PART_WORDS if abs(saved[p]) >= floor), key=lambda p: -abs(saved[p]))
    clauses = [
        f"{abs(saved[p]):.2f} s {'less' if saved[p] > 0 else 'more'} {PART_WORDS[p]}" for p in parts
    ]
    mine, ref = rows[cmp.contender], rows[cmp.reference]
    fractions = [mine.sgemm_fraction, ref.sgemm_fraction]
    if all(f is not None and f <= 1 for f in fractions):  # above 1: see floor_notes
        clauses.append(
            f"training at {pct(mine.sgemm_fraction)} vs {pct(ref.sgemm_fraction)} of "
            "this machine's sgemm rate"
        )
    if not clauses:
        return None
    total = saved.total
    head = f"{abs(total):.2f} s {'less' if total >= 0 else 'more'} per run"
    return f"Where the difference comes from ({head}): " + "; ".join(clauses) + "."


def warning(note: Note) -> str:
    """A statistics note (stats.instability code) in words."""
    code = note.code
    if code == "few_runs":
        return f"only {note.runs} timed runs (fewer than {note.minimum}): estimates are rough"
    if code == "unstable":
        return (
            f"unstable: stddev is {100 * note.cv:.0f} % of the mean "
            f"(>= {100 * note.threshold:.0f} %)"
        )
    if code == "outliers":
        return f"{note.count} outlier(s) beyond {note.iqr_factor} IQR of the quartiles"
    if code == "no_success":
        return "no run reached the target: times shown are of failed runs"
    return code


def mismatch(cause: MismatchCause) -> str:
    """Why a seed's epochs to target differ between contenders."""
    text = f"{cause.low} vs {cause.high} epochs"
    if cause.code == "rounding":
        return (
            f"{text}: float rounding at the threshold (accuracy {cause.accuracy:.4f} "
            f"at epoch {cause.epoch}, target {float(cause.target):g})"
        )
    if cause.code == "no_epoch_log":
        return f"{text}: cause unknown (no epoch log)"
    return f"{text}: trajectories differ by more than rounding at the threshold"


def method(analysis: Analysis) -> str:
    """How the ratios, their CIs and the verdicts are made."""
    cfg = analysis.config
    every = analysis.comparisons + analysis.cross_thread
    pairings = sorted({c.pairing for c in every if c.ratio is not None})
    how = "; ".join(PAIRING_WORDS.get(p, p) for p in pairings) or "no comparisons"
    reference = analysis.reference
    threads = next((c.threads for c in analysis.contenders if c.name == reference), None)
    at_threads = " at the contender's own thread count" if threads is not None else ""
    return (
        f"Speed-up = t({reference}) / t(contender){at_threads}; the geometric mean over {how}. "
        f"{level(analysis)} CI: a t-interval on "
        f"the mean log-ratio; the verdict follows the CI: faster or slower only when it "
        f"excludes 1 (the t-test at alpha = {cfg.alpha}), equivalent when it holds 1 and "
        f"lies within {cfg.equivalence_low:.2f}-{cfg.equivalence_high:.2f}, else "
        "inconclusive. Median CIs are distribution-free (order statistics; none below 6 runs)."
    )


def precision(analysis: Analysis) -> str | None:
    """How measuring stopped and the precision the like-for-like ratios reached."""
    m = analysis.measuring
    reached = m.precision_reached
    got = f"±{100 * reached:.1f} %" if reached is not None else "n/a"
    wanted = f"±{100 * m.precision_target:.1f} %" if m.precision_target else None
    rounds = f"{m.rounds_done} round" + ("s" if m.rounds_done != 1 else "")
    if m.stop_reason == "precision":
        aim = f"precision {wanted} reached" if wanted else "precision reached"
        return f"Stopped after {rounds}: {aim} ({got} the widest CI)."
    if m.stop_reason == "time":
        aim = f" (aim {wanted})" if wanted else ""
        return f"Time budget spent after {rounds}; precision reached {got}{aim}."
    if m.stop_reason == "max_rounds":
        aim = f" (aim {wanted})" if wanted else ""
        return f"Stopped at the round limit after {rounds}; precision reached {got}{aim}."
    if m.stop_reason == "failed":
        return f"Stopped after {rounds}: every contender but the reference failed every seed."
    if m.stop_reason == "rounds":
        return f"{rounds} as requested; precision reached {got}."
    if reached is not None:
        return f"Precision reached: {got} (the widest like-for-like {level(analysis)} CI)."
    return None


def noise(analysis: Analysis) -> list[str]:
    """Warnings about the machine while measuring, in words (empty when all was quiet)."""
    n, lines = analysis.noise, []
    if n.busy:
        busiest = ", ".join(
            f"{b.name} (pid {b.pid}, {num(b.cpu_seconds, 3)} s CPU, {pct(b.share)})"
            for b in n.busiest
        )
        lines.append(
            f"Other processes used {pct(n.other_share)} of a core while measuring (more "
            f"than {pct(n.busy_threshold)}): timings may be inflated"
            + (f"; busiest: {busiest}." if busiest else ".")
        )
    if n.slow_rounds:
        which = ", ".join(str(r) for r in n.slow_rounds)
        lines.append(
            f"Round{'s' if len(n.slow_rounds) > 1 else ''} {which}: every contender took "
            f"more than {n.slow_round_factor:.2f}x its median at once (a machine-wide slow "
            "spell); paired ratios cancel it, single times do not."
        )
    return lines


def floor_notes(analysis: Analysis) -> list[str]:
    """A training rate above the sgemm rate measured for its thread count, said plainly."""
    above = [
        f"{c.name} ({pct(c.sgemm_fraction)})"
        for c in analysis.contenders
        if c.sgemm_fraction is not None and c.sgemm_fraction > 1
    ]
    if not above:
        return []
    return [
        f"Training faster than the sgemm rate prepare measured at the same thread count: "
        f"{', '.join(above)}. That rate was measured once, before the rounds; a much lower "
        "rate at more threads than one usually means the BLAS threads were starved by other "
        "load at that moment, so read those fractions with care."
    ]


def load_text(load: Any) -> str:
    """A 1/5/15-minute load triple."""
    return ", ".join(f"{float(x):.2f}" for x in load) if load else "n/a"
