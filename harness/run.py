"""`harness run`: prepare -> verify -> measure, then the derived stages and the report.

Every option is checked (prepare.plan) before the results folder exists. Ctrl-C or SIGTERM
while preparing or measuring stops hyperfine and the contender it runs, keeps every finished
timed process (or removes a folder that holds none) and exits 130; `results/latest` moves only
to a run that has its report.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from harness import stages
from harness.measurement.progress import plural
from harness.model import results
from harness.model.records import Manifest
from harness.pooling import store
from harness.preparation import prepare
from harness.preparation.prepare import RunOptions


def run(
    options: RunOptions, argv: list[str], log: Callable[[str], None], store_url: str | None = None
) -> int:
    """prepare -> verify -> measure -> ingest -> analyze -> plot -> report; the exit status."""
    plan = prepare.plan(options)  # every option checked before anything is created
    run_dir = results.new_results_dir(options.out)
    try:
        with _interrupts_raise():
            log(f"results folder: {run_dir}")  # inside: a Ctrl-C here still removes it
            manifest = prepare.prepare(plan, run_dir, argv, log)
            log(f"[1/7] prepare: spec.json, init/ ({plural(len(options.seeds), 'seed')}), env.json")
            parity = _run_parity(plan, run_dir, log)
            log(f"[3/7] measure: {_measure_plan(options, manifest, plan.hyperfine_version)}")
            measured_ok = _measure(run_dir, manifest, parity, log, options.quiet)
    except _Interrupted:
        return _interrupted(run_dir)
    parity_ok = parity in ("passed", "skipped")
    try:
        report = stages.rebuild(run_dir, log, first_stage=4)
    except KeyboardInterrupt:
        print(
            f"interrupted while building the report; `python -m harness report {run_dir}` "
            "finishes it",
            file=sys.stderr,
        )
        return 130
    kept = results.update_latest(run_dir)  # only a run with a report becomes `latest`
    if kept:
        print(f"note: {kept}", file=sys.stderr)
    log(f"report: {report} (summary: {report.parent / 'summary.md'})")
    store.index_run(run_dir, options.out, store_url, log)  # after the report; never fatal
    if not measured_ok:
        print(f"error: some contenders failed; see {report}", file=sys.stderr)
    if not parity_ok:
        print(f"error: parity check failed; see {run_dir / 'parity.json'}", file=sys.stderr)
    return 0 if measured_ok and parity_ok else 1


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM during `run`'s prepare, verify or measure."""


@contextlib.contextmanager
def _interrupts_raise() -> Iterator[None]:
    """Within: Ctrl-C and SIGTERM (see main) raise _Interrupted; measure stops hyperfine first."""
    from harness.measurement import measure

    try:
        yield
    except (KeyboardInterrupt, measure.Interrupted):
        raise _Interrupted from None


def _interrupted(run_dir: Path) -> int:
    """Keep a folder holding timed runs (and say how to render it); drop one without any."""
    from harness.model.journal import read_journal

    if any(not e.get("warmup") for e in read_journal(run_dir)):
        print(
            f"interrupted: partial results kept in {run_dir} (every finished run); "
            f"`python -m harness report {run_dir}` renders them",
            file=sys.stderr,
        )
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
        print(f"interrupted before any timed run finished; {run_dir} removed", file=sys.stderr)
    return 130


def _measure_plan(options: RunOptions, manifest: Manifest, hyperfine: str | None) -> str:
    """`2 contenders x 1 seed, 2 interleaved rounds (+1 warm-up) with hyperfine 2.0.0`."""
    from harness.analysis.precision import DEFAULT_MAX_TIME, MIN_ROUNDS

    what = f"{plural(len(manifest.contenders), 'contender')} x {plural(len(options.seeds), 'seed')}"
    if manifest.precision:
        budget = manifest.max_time or DEFAULT_MAX_TIME
        rounds = (
            f"interleaved rounds until every like-for-like 95 % CI is within "
            f"±{100 * manifest.precision:g} % (at least {MIN_ROUNDS}, "
            f"at most {budget:g} s)"
        )
    else:
        rounds = plural(options.runs, "interleaved round")
    return f"{what}, {rounds} (+{options.warmup} warm-up) with hyperfine {hyperfine}"


def _measure(
    run_dir: Path, manifest: Manifest, parity_status: str, log: Callable[[str], None], quiet: bool
) -> bool:
    """measure, with the precision rule when asked and a progress display unless quiet."""
    from harness.measurement import measure, progress

    stop_rule, budget, rounds = None, None, manifest.runs
    if manifest.precision:
        from harness.analysis import precision

        stop_rule = precision.stop_rule(manifest)
        budget = manifest.max_time or precision.DEFAULT_MAX_TIME
        rounds = precision.MIN_ROUNDS  # the rule ignores --runs
    watch = progress.Progress(progress.Plan.of(manifest, rounds, budget)) if not quiet else None
    with watch or contextlib.nullcontext():
        return measure.measure(run_dir, log, stop_rule, watch, parity_status)


def _run_parity(plan: prepare.Plan, run_dir: Path, log: Callable[[str], None]) -> str:
    """The K-step parity check before timing (parity.json); its status (skipped when asked)."""
    from harness.measurement import verify

    options = plan.options
    if options.skip_parity:
        log("[2/7] verify: skipped (--skip-parity)")
        return "skipped"
    init = run_dir / "init" / f"seed-{options.seeds[0]}.safetensors"
    parity = verify.verify(
        plan.contenders, run_dir / "spec.json", init, options.parity_steps, run_dir / "parity"
    )
    verify.write_parity(run_dir / "parity.json", parity)
    log(f"[2/7] verify: parity {parity['status']} after {options.parity_steps} steps")
    if parity["status"] != "passed":
        log(verify.format_table(parity))
    return str(parity["status"])
