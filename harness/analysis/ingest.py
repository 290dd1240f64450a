"""Stage 4: raw files -> tables/{contenders,runs,epochs,evaluator}.csv (harness.model.tables rows).

Pairing a hyperfine measurement with the process's own metrics:
- folders measured in rounds: measure.jsonl names, for every timed process, its hyperfine
  export, its round, when it started and the run_id it wrote: exact.
- older folders (one hyperfine.json): metrics/<c>/seed-<s>.jsonl holds one run_id per process
  in order; the first `warmup` are warm-ups and the k-th of the rest is hyperfine's k-th
  measurement. When the counts disagree, pairs go as far as they do, with a warning.
- hyperfine-only folders (`report --hyperfine-json`): no metrics, status no_metrics.
A metrics stream with a bad line marks its run `invalid` (problem: file:line), nothing else.
Each saved final model is re-scored by the referee (referee); a model it cannot read
gets its row's note, and the other rows are scored.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.analysis import integrity
from harness.analysis.pairing import seed_key
from harness.errors import HarnessError
from harness.model.folder import Folder
from harness.model.hyperfine import Export, Measurement, parse_export
from harness.model.journal import read_journal
from harness.model.records import Manifest, read_json, write_json
from harness.model.stream import Process, Stream, read_stream
from harness.model.tables import (
    ContenderRow,
    EpochRecord,
    EvaluatorRow,
    RunRecord,
    write_rows,
)
from harness.preparation import referee
from harness.preparation.datasets import KNOWN, resolve


def ingest(where: Folder | Path) -> list[str]:
    """Write the tables from the folder's files; return warnings (also in ingest.json)."""
    folder = Folder.of(where)
    run_dir, manifest = folder.path, folder.manifest
    tables = run_dir / "tables"
    write_rows(tables / "contenders.csv", ContenderRow, contender_rows(manifest))
    evaluator: list[EvaluatorRow] = []
    if manifest.hyperfine_exports is not None:
        runs, epochs, warnings = _exports_runs(run_dir, manifest), [], []
    else:
        runs, epochs, evaluator, warnings = _paired_runs(run_dir, manifest)
    write_rows(tables / "runs.csv", RunRecord, runs)
    write_rows(tables / "epochs.csv", EpochRecord, epochs)
    write_rows(tables / "evaluator.csv", EvaluatorRow, evaluator)
    write_json(run_dir / "ingest.json", {"warnings": warnings})
    return warnings


def contender_rows(manifest: Manifest) -> list[ContenderRow]:
    """tables/contenders.csv: one row per configured contender."""
    return [
        ContenderRow(
            c.name,
            c.implementation,
            c.algorithm,
            c.threads,
            c.argv if isinstance(c.argv, str) else shlex.join(c.argv),
        )
        for c in manifest.contenders
    ]


def run_record(
    contender: str, seed: str, m: Measurement, process: Process | None, **where: Any
) -> RunRecord:
    """One runs.csv row: hyperfine's numbers, plus the process's metrics when it has some.

    The parts of the wall time add up: startup (outside main: start-up, save, exit; hyperfine's
    wall minus the end event's) + load + setup (inside main, outside load/train/eval) + train
    + eval = wall.
    """
    record = RunRecord(
        contender=contender,
        seed=seed,
        round=where.get("round"),
        run_index=where["run_index"],
        started_at=where.get("started_at"),
        run_id=process.run_id if process else None,
        wall_seconds=m.wall_seconds,
        user_seconds=m.user_seconds,
        system_seconds=m.system_seconds,
        max_rss_bytes=m.max_rss_bytes,
        exit_code=m.exit_code,
        status=where.get("status", "crashed") if process is None else process.status,
        reached_target=None if process is None else process.status == "reached_target",
    )
    if process is None or process.problem:
        return replace(record, problem=process.problem if process else "")
    end, data = process.end or {}, process.data or {}
    train = _sum(process.epochs, "train_seconds")
    evals = _sum(process.epochs, "eval_seconds")
    epochs = end.get("epochs", len(process.epochs))
    metrics_wall, load = end.get("wall_seconds"), data.get("load_seconds")
    samples = data.get("train_samples")
    known = [v for v in (load, train, evals) if v is not None]
    return replace(
        record,
        epochs=epochs,
        steps=end.get("steps", process.epochs[-1]["steps"] if process.epochs else None),
        test_accuracy=end.get("test_accuracy"),
        load_seconds=load,
        train_seconds=train,
        eval_seconds=evals,
        setup_seconds=metrics_wall - sum(known) if metrics_wall is not None else None,
        metrics_wall_seconds=metrics_wall,
        startup_seconds=m.wall_seconds - metrics_wall if metrics_wall is not None else None,
        seconds_per_epoch=train / epochs if train and epochs else None,
        samples_per_second=samples * epochs / train if samples and epochs and train else None,
    )


def _sum(events: list[dict[str, Any]], key: str) -> float | None:
    values = [e[key] for e in events if e.get(key) is not None]
    return float(sum(values)) if values else None


def epoch_records(record: RunRecord, process: Process) -> list[EpochRecord]:
    """tables/epochs.csv rows: elapsed = start-up + load + set-up + train and eval so far."""
    if record.problem:
        return []
    known = record.startup_seconds is not None
    elapsed = sum(v or 0.0 for v in (record.startup_seconds, record.load_seconds))
    elapsed += max(0.0, record.setup_seconds or 0.0)
    rows = []
    for e in process.epochs:
        elapsed += e["train_seconds"] + e["eval_seconds"]
        rows.append(
            EpochRecord(
                record.contender,
                record.seed,
                record.run_index,
                process.run_id,
                e["epoch"],
                e.get("steps"),
                e["train_seconds"],
                e["eval_seconds"],
                e.get("train_loss"),
                e.get("test_correct"),
                e.get("test_accuracy"),
                elapsed if known else None,
            )
        )
    return rows


CLAIMS = ("reached_target", "max_epochs")  # statuses whose saved model the referee must confirm

# (contender, seed, hyperfine's measurement, the process's events, where: round, run_index,
#  started_at, and the journal entry when there is one)
Pair = tuple[str, str, Measurement, Process | None, dict[str, Any]]


def _streams(run_dir: Path, manifest: Manifest) -> dict[tuple[str, str], Stream]:
    """Every contender's and seed's metrics stream (lenient), when the file exists."""
    found = {}
    for c in manifest.contenders:
        for path in sorted((run_dir / "metrics" / c.name).glob("seed-*.jsonl")):
            found[(c.name, path.stem.removeprefix("seed-"))] = read_stream(path, strict=False)
    return found


def _paired_runs(
    run_dir: Path, manifest: Manifest
) -> tuple[list[RunRecord], list[EpochRecord], list[EvaluatorRow], list[str]]:
    """runs.csv, epochs.csv and evaluator.csv of a harness run, every check applied."""
    journal = read_journal(run_dir)
    if journal:
        pairs, warnings = _journal_pairs(run_dir, journal)
    else:
        streams = _streams(run_dir, manifest)
        pairs, warnings = _ordered_pairs(run_dir, manifest, streams)
        warnings = [p for s in streams.values() for p in s.problems] + warnings
    order = {c.name: i for i, c in enumerate(manifest.contenders)}
    models = sorted(  # by contender, then seed; runs of one seed in the order they ran
        _models(run_dir, pairs), key=lambda m: (order.get(m[0], len(order)), seed_key(m[1]))
    )
    evaluator, eval_warnings = evaluate(run_dir, models)
    warnings += eval_warnings
    judged = {(row.contender, row.seed, row.run_id): row for row in evaluator}
    judged_nothing = all(row.test_samples is None for row in evaluator)
    threads = {c.name: c.threads for c in manifest.contenders}
    runs, epochs = [], []
    for pair in pairs:
        contender, seed, _m, process, where = pair
        # Its own model (schema 3), when the referee could read the spec and test set at all.
        binds = bool((where.get("entry") or {}).get("model")) and not judged_nothing
        referee = integrity.Verdict()
        if binds and process is not None and process.status in CLAIMS:
            referee = integrity.referee_check(judged.get((contender, seed, process.run_id)))
        record = _checked(run_record(*pair[:4], **where), pair, threads, manifest, referee)
        runs.append(record)
        if record.check:
            warnings.append(
                f"{contender} seed {seed}: run invalid ({record.check}): {record.problem}"
            )
        elif process is not None:
            epochs += epoch_records(record, process)
    return runs, epochs, evaluator, warnings


def _invalid(record: RunRecord, verdict: integrity.Verdict) -> RunRecord:
    """The record marked invalid by a failed check (unchanged when it passed)."""
    if not verdict.code:
        return record
    return replace(record, status="invalid", check=verdict.code, problem=verdict.detail)


def _checked(
    record: RunRecord,
    pair: Pair,
    threads: dict[str, int | None],
    manifest: Manifest,
    referee: integrity.Verdict,
) -> RunRecord:
    """Apply the checks (integrity) to one run; the first that fails names it. Facts
    the harness recorded or computed come first (the stream, the process, the referee's own
    count), then the bounds that depend on timings (CPU per thread, the sgemm floor)."""
    contender, _seed, _m, process, where = pair
    if record.problem:
        return replace(record, check="stream")
    entry = where.get("entry") or {}
    for verdict in (
        integrity.process_checks(entry, record, process),
        referee,
        integrity.cpu_check(record, threads.get(contender)),
        integrity.floor_check(record, threads.get(contender), manifest.floor),
    ):
        if verdict.code:
            return _invalid(record, verdict)
    return record


def _models(run_dir: Path, pairs: list[Pair]) -> list[tuple[str, str, Process, Path]]:
    """The model file of each run the referee scores: every timed run's own (folders measured
    with per-run files), else the last run per (contender, seed) (models/<c>/seed-<s>)."""
    found = {}
    for contender, seed, _m, process, where in pairs:
        if process is None:
            continue
        entry = where.get("entry") or {}
        if entry.get("model"):
            found[(contender, seed, process.run_id)] = (
                contender,
                seed,
                process,
                run_dir / entry["model"],
            )
        else:
            model = run_dir / "models" / contender / f"seed-{seed}.safetensors"
            found[(contender, seed, "last")] = (contender, seed, process, model)
    return list(found.values())


def _journal_pairs(run_dir: Path, journal: list) -> tuple[list[Pair], list[str]]:
    """Pairs from measure.jsonl (rounds): exact, by run_id in each process's own file
    (folders before schema 3: in the per-seed file all its processes appended to)."""
    pairs: list[Pair] = []
    index: dict[tuple[str, str], int] = {}
    warnings: list[str] = []
    shared: dict[str, Stream] = {}
    for e in journal:
        if e.get("warmup") or not isinstance(e.get("contender"), str | int):
            continue
        key = (str(e["contender"]), str(e.get("seed", "")))
        m = _measurement(run_dir, e, warnings)
        if m is None:
            continue
        metrics = str(e.get("metrics") or f"metrics/{key[0]}/seed-{key[1]}.jsonl")
        if metrics not in shared:
            path = run_dir / metrics
            shared[metrics] = read_stream(path, strict=False) if path.is_file() else Stream(path)
            warnings += shared[metrics].problems
        stream = shared[metrics]
        process = stream.by_run_id().get(e.get("run_id") or "")
        if process is None and e.get("run_id"):
            warnings.append(
                f"{metrics}: no events of run {e['run_id']} (round {e.get('round')}); its time "
                "is kept without metrics"
            )
        where = {
            "round": e.get("round"),
            "run_index": index.get(key, 0),
            "started_at": e.get("started_at"),
            "entry": e,
        }
        if e.get("timed_out"):
            where["status"] = "timed_out"
        index[key] = index.get(key, 0) + 1
        pairs.append((*key, m, process, where))
    return pairs, warnings


def _measurement(run_dir: Path, e: dict[str, Any], warnings: list[str]) -> Measurement | None:
    """hyperfine's measurement of a journal entry; the harness's own clock for one it killed."""
    if e.get("timed_out"):
        return Measurement(float(e.get("wall_seconds") or 0.0), None, None, None, None)
    if e.get("error"):  # hyperfine could not run it: a failed run without a time
        return Measurement(math.nan, None, None, None, None)
    export = run_dir / str(e.get("export"))
    if not export.is_file():
        return None  # a stop while this process ran: nothing was measured
    try:
        (m,) = parse_export(export).results[0].measurements[:1]
    except (HarnessError, IndexError, ValueError) as exc:
        warnings.append(f"{exc}; that run is left out")  # one lost run, not the report
        return None
    return m


def _ordered_pairs(
    run_dir: Path, manifest: Manifest, streams: dict[tuple[str, str], Stream]
) -> tuple[list[Pair], list[str]]:
    """Pairs from one hyperfine.json (folders before rounds): in order, after the warm-ups."""
    path = run_dir / "hyperfine.json"
    if not path.is_file():
        return [], ["hyperfine.json: missing (no benchmark finished); no timed runs"]
    pairs, warnings = [], []
    measured: dict[tuple[str, str], list[Measurement]] = {}
    for result in parse_export(path).results:  # one result per command, or per process
        key = (result.name, result.parameters.get("seed", ""))
        measured.setdefault(key, []).extend(result.measurements)
    for key, measurements in measured.items():
        stream = streams.get(key)
        processes = stream.processes[manifest.warmup :] if stream else []
        if len(processes) != len(measurements):
            name = f"metrics/{key[0]}/seed-{key[1]}.jsonl"
            warnings.append(
                f"{name}: {len(processes) + manifest.warmup if stream else 0} runs in the "
                f"metrics file, expected {manifest.warmup} warmup + {len(measurements)} "
                "timed; paired in order as far as they go"
            )
        for k, m in enumerate(measurements):
            process = processes[k] if k < len(processes) else None
            pairs.append((*key, m, process, {"run_index": k}))
    return pairs, warnings


# ---------------------------------------------------------------- the referee's scores


def _test_set(run_dir: Path) -> tuple[dict[str, Any], Any, Any]:
    """spec.json and the test set it names (the embedded copy when a known folder moved)."""
    spec = read_json(run_dir / "spec.json", check_schema=False)
    dataset = spec.get("dataset") if isinstance(spec.get("dataset"), dict) else {}
    folder = Path(str(dataset.get("dir", "")))
    if not folder.is_dir() and dataset.get("name") in KNOWN:
        folder = resolve(str(dataset["name"]), None)  # a folder copied from another machine
    x, y = referee.read_test_set(folder)
    return spec, x, y


def evaluate(
    run_dir: Path, models: list[tuple[str, str, Process, Path]]
) -> tuple[list[EvaluatorRow], list[str]]:
    """The referee's count for each run's saved model vs the contender's own claim."""
    if not models:
        return [], []
    try:
        spec, x, y = _test_set(run_dir)
        layers, alpha = list(spec["layers"]), float(spec["hidden_activation"].get("alpha", 0.0))
    except (HarnessError, KeyError, TypeError, AttributeError, ValueError) as exc:
        problem = str(exc) if isinstance(exc, HarnessError) else f"spec.json: {exc!r}"
        spec, x, y, layers, alpha = {}, None, None, [], 0.0
    else:
        problem = ""
    rows, warnings = [], []
    for contender, seed, process, model in models:
        end = process.end or {}
        claimed = end.get("test_correct")
        row = EvaluatorRow(
            contender=contender,
            seed=seed,
            run_id=process.run_id,
            model=str(model.relative_to(run_dir)),
            claimed_status=process.status,
            claimed_test_correct=claimed if isinstance(claimed, int) else None,
            evaluator_test_correct=None,
            test_samples=None if y is None else len(y),
            claimed_reached_target=process.status == "reached_target",
            evaluator_reached_target=None,
            agrees=None,
            note=problem or ("" if model.is_file() else "no saved model"),
        )
        if row.note or process.status in ("crashed", "invalid", "diverged"):
            rows.append(row)
            continue
        try:
            correct = referee.count_correct(referee.read_model(model, layers), alpha, x, y)
        except referee.RefereeError as exc:
            rows.append(replace(row, note=str(exc)))
            warnings.append(f"evaluator: {contender} seed {seed}: {exc}")
            continue
        rows.append(judge(row, correct, float(spec["target_accuracy"])))
        if rows[-1].agrees is False and row.claimed_status != "max_steps":
            warnings.append(f"evaluator: {contender} seed {seed}: {rows[-1].note}")
    return rows, warnings


def judge(row: EvaluatorRow, correct: int, target: float) -> EvaluatorRow:
    """Agreement: counts within the tolerance, and a claimed target reached by ours too."""
    n = row.test_samples or 0
    reached = correct > target * n  # the contract's exact-count rule
    claimed = row.claimed_test_correct
    counts_agree = (
        isinstance(claimed, int) and abs(claimed - correct) <= referee.EVALUATOR_TOLERANCE
    )
    agrees = counts_agree and (not row.claimed_reached_target or reached)
    if not counts_agree:
        note = f"claimed {claimed} correct, the harness counts {correct} of {n}"
    elif not agrees:
        note = f"claims reached_target, but {correct}/{n} is not above target {target:g}"
    else:
        note = ""
    return replace(
        row,
        evaluator_test_correct=correct,
        evaluator_reached_target=reached,
        agrees=agrees,
        note=note,
    )


# ---------------------------------------------------------------- hyperfine exports alone


def _exports_runs(run_dir: Path, manifest: Manifest) -> list[RunRecord]:
    """runs.csv of a folder made from hyperfine exports: no metrics, status no_metrics."""
    from harness.measurement.imports import export_names

    files = list(manifest.hyperfine_exports or [])
    exports: list[Export] = [parse_export(run_dir / "hyperfine-json" / f) for f in files]
    runs, index = [], {}
    for export, names in zip(exports, export_names(files, exports), strict=True):
        for result, name in zip(export.results, names, strict=True):
            seed = result.parameters.get("seed", "")
            for m in result.measurements:
                k = index.get((name, seed), 0)
                index[(name, seed)] = k + 1
                runs.append(run_record(name, seed, m, None, run_index=k, status="no_metrics"))
    return runs
