"""Stage 3: hyperfine JSON + metrics JSONL -> tables/{contenders,runs,epochs,evaluator}.csv.

Pairing rule: metrics/<c>/seed-<s>.jsonl holds one run_id per process, in order; the first
`warmup` of them are hyperfine's warmup runs, and the k-th of the rest is hyperfine's k-th
measurement of that (contender, seed). When the counts disagree (a process died before
writing its start event) the pairing is kept as far as it goes and a warning is recorded.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.hyperfine import RUNS_COLUMNS, Export, export_to_runs_frame, parse_export
from harness.results import read_json, read_optional_json, write_json

EVENTS = ("start", "data", "epoch", "step", "end")
EPOCH_COLUMNS = [
    "contender",
    "seed",
    "run_index",
    "run_id",
    "epoch",
    "steps",
    "train_seconds",
    "eval_seconds",
    "train_loss",
    "test_correct",
    "test_accuracy",
    "elapsed_seconds",
]
EVALUATOR_COLUMNS = [
    "contender",
    "seed",
    "run_id",
    "model",
    "claimed_status",
    "claimed_test_correct",
    "evaluator_test_correct",
    "test_samples",
    "claimed_reached_target",
    "evaluator_reached_target",
    "agrees",
    "note",
]
# Two implementations' forward passes round differently (summation order), so a test digit
# whose two largest outputs tie to within ~1e-6 may flip; allow that many such flips.
EVALUATOR_TOLERANCE = 2


@dataclass
class MetricsRun:
    """All events of one process (one run_id) in a metrics file."""

    run_id: str
    start: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None


def read_metrics(path: Path) -> list[MetricsRun]:
    """Parse a metrics JSONL file into runs in order; HarnessError naming file and line."""
    runs: dict[str, MetricsRun] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{path}: not valid UTF-8 text") from exc
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not text.endswith("\n"):
                break  # a process killed mid-write leaves a partial last line: ignore it
            raise HarnessError(f"{path}:{number}: not valid JSON (column {exc.colno})") from exc
        if not isinstance(event, dict) or event.get("event") not in EVENTS:
            kind = event.get("event") if isinstance(event, dict) else None
            raise HarnessError(
                f"{path}:{number}: unknown metrics event {json.dumps(kind)} "
                f"(expected one of {', '.join(EVENTS)})"
            )
        run_id = event.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise HarnessError(f"{path}:{number}: missing run_id")
        run = runs.setdefault(run_id, MetricsRun(run_id))
        kind = event["event"]
        if kind == "epoch":
            run.epochs.append(event)
        elif kind == "step":
            run.steps.append(event)
        else:
            setattr(run, kind, event)
    return list(runs.values())


def _sum(events: list[dict[str, Any]], key: str) -> float | None:
    """Sum of a numeric field over events (None when there are none)."""
    values = [e[key] for e in events if isinstance(e.get(key), int | float)]
    return float(sum(values)) if values else None


def run_fields(run: MetricsRun, wall: float | None) -> dict[str, Any]:
    """The metrics columns of tables/runs.csv for one process."""
    end = run.end or {}
    epochs = end.get("epochs", len(run.epochs))
    train = end.get("train_seconds", _sum(run.epochs, "train_seconds"))
    metrics_wall = end.get("wall_seconds")
    samples = (run.data or {}).get("train_samples")
    return {
        "run_id": run.run_id,
        "status": end.get("status", "crashed"),
        "reached_target": end.get("status") == "reached_target",
        "epochs": epochs,
        "steps": end.get("steps", run.epochs[-1].get("steps") if run.epochs else None),
        "test_accuracy": end.get("test_accuracy"),
        "load_seconds": (run.data or {}).get("load_seconds"),
        "train_seconds": train,
        "eval_seconds": _sum(run.epochs, "eval_seconds"),
        "metrics_wall_seconds": metrics_wall,
        # hyperfine's wall time minus the program's own: interpreter start-up, imports.
        "startup_seconds": wall - metrics_wall if wall is not None and metrics_wall else None,
        "seconds_per_epoch": train / epochs if train and epochs else None,
        "samples_per_second": samples * epochs / train if samples and epochs and train else None,
    }


def epoch_rows(
    run: MetricsRun, contender: str, seed: str, index: int, startup: float | None
) -> list[dict[str, Any]]:
    """tables/epochs.csv rows: elapsed = startup + load + cumulative train and eval."""
    rows = []
    elapsed = (startup or 0.0) + ((run.data or {}).get("load_seconds") or 0.0)
    for e in run.epochs:
        elapsed += (e.get("train_seconds") or 0.0) + (e.get("eval_seconds") or 0.0)
        rows.append(
            {
                "contender": contender,
                "seed": seed,
                "run_index": index,
                "run_id": run.run_id,
                **{k: e.get(k) for k in EPOCH_COLUMNS[4:-1]},
                "elapsed_seconds": elapsed if startup is not None else None,
            }
        )
    return rows


def contenders_frame(run: dict[str, Any]) -> pd.DataFrame:
    """tables/contenders.csv from run.json (command: the argv template, shell-quoted)."""
    rows = [
        {
            "contender": c["name"],
            "implementation": c["implementation"],
            "algorithm": c["algorithm"],
            "threads": c["threads"],
            "command": shlex.join(c["argv"]),
        }
        for c in run["contenders"]
    ]
    return pd.DataFrame(
        rows, columns=["contender", "implementation", "algorithm", "threads", "command"]
    )


def pair_runs(
    frame: pd.DataFrame, run_dir: Path, warmup: int
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str], dict[tuple[str, str], MetricsRun]]:
    """Fill runs.csv's metrics columns; return it, epoch rows, warnings and each last run."""
    warnings: list[str] = []
    epochs: list[dict[str, Any]] = []
    last: dict[tuple[str, str], MetricsRun] = {}
    frame = frame.astype({c: "object" for c in RUNS_COLUMNS if c not in ("run_index",)})
    filled: dict[Any, dict[str, Any]] = {}  # row label -> metrics columns, set in one go below
    for (contender, seed), group in frame.groupby(["contender", "seed"], sort=False):
        path = run_dir / "metrics" / str(contender) / f"seed-{seed}.jsonl"
        runs = read_metrics(path) if path.exists() else []
        if runs:
            last[(str(contender), str(seed))] = runs[-1]
        timed = runs[warmup:]
        if len(runs) != warmup + len(group):
            warnings.append(
                f"{path.relative_to(run_dir)}: {len(runs)} runs in the metrics file, expected "
                f"{warmup} warmup + {len(group)} timed; paired in order as far as they go"
            )
        for k, row_index in enumerate(group.index):
            if k >= len(timed):
                filled[row_index] = {"status": "crashed", "reached_target": False}
                continue
            wall = frame.at[row_index, "wall_seconds"]
            fields = run_fields(timed[k], None if pd.isna(wall) else float(wall))
            filled[row_index] = fields
            epochs += epoch_rows(timed[k], str(contender), str(seed), k, fields["startup_seconds"])
    if filled:  # column by column: cell-by-cell .loc writes cost a second on 120 runs
        columns = pd.DataFrame.from_dict(filled, orient="index")
        for key in columns.columns:
            values = columns[key].dropna()
            frame.loc[values.index, key] = values
    return frame, epochs, warnings, last


def evaluate(
    run_dir: Path, last: dict[tuple[str, str], MetricsRun]
) -> tuple[pd.DataFrame, list[str]]:
    """Re-score each saved final model with python_impl; compare with the contender's claim."""
    from python_impl.data import load_dataset
    from python_impl.model import count_correct
    from python_impl.modelfile import load_model
    from python_impl.spec import load_spec

    spec_path = run_dir / "spec.json"
    spec = load_spec(spec_path)
    raw = json.loads(spec_path.read_text())
    data = load_dataset(Path(raw["dataset"]["dir"]))
    n = len(data.test_y)
    target = float(raw["target_accuracy"])
    rows, warnings = [], []
    for (contender, seed), run in sorted(last.items()):
        model = run_dir / "models" / contender / f"seed-{seed}.safetensors"
        end = run.end or {}
        row: dict[str, Any] = {
            "contender": contender,
            "seed": seed,
            "run_id": run.run_id,
            "model": str(model.relative_to(run_dir)),
            "claimed_status": end.get("status", "crashed"),
            "claimed_test_correct": end.get("test_correct"),
            "test_samples": n,
            "claimed_reached_target": end.get("status") == "reached_target",
        }
        if not model.exists():
            row.update(agrees=None, note="no saved model")
            rows.append(row)
            continue
        params = load_model(model, raw["layers"])
        correct = int(count_correct(params, spec.hidden_activation, data.test_x, data.test_y))
        reached = correct > target * n  # the contract's exact-count rule
        claimed = end.get("test_correct")
        counts_agree = isinstance(claimed, int) and abs(claimed - correct) <= EVALUATOR_TOLERANCE
        # A claimed "reached_target" must hold by the harness's own count too.
        agrees = counts_agree and (end.get("status") != "reached_target" or reached)
        if not counts_agree:
            note = f"claimed {claimed} correct, the harness counts {correct} of {n}"
        elif not agrees:
            note = f"claims reached_target, but {correct}/{n} is not above target {target:g}"
        else:
            note = ""
        row.update(
            evaluator_test_correct=correct,
            evaluator_reached_target=reached,
            agrees=agrees,
            note=note,
        )
        if not agrees and row["claimed_status"] != "max_steps":
            warnings.append(f"evaluator: {contender} seed {seed}: {note}")
        rows.append(row)
    frame = pd.DataFrame(rows, columns=EVALUATOR_COLUMNS)
    for column in ("claimed_test_correct", "evaluator_test_correct"):
        frame[column] = frame[column].astype("Int64")
    return frame, warnings


def ingest(run_dir: Path) -> list[str]:
    """Write the tables from run_dir's files; return warnings (also in ingest.json)."""
    run = read_json(run_dir / "run.json")
    (run_dir / "tables").mkdir(exist_ok=True)
    if "hyperfine_exports" in run:
        warnings = _ingest_exports(run_dir, run)
    else:
        warnings = _ingest_run(run_dir, run)
    write_json(run_dir / "ingest.json", {"warnings": warnings})
    return warnings


def _ingest_run(run_dir: Path, run: dict[str, Any]) -> list[str]:
    """The tables of a harness run: hyperfine's runs paired with the metrics, the evaluator."""
    tables = run_dir / "tables"
    contenders_frame(run).to_csv(tables / "contenders.csv", index=False)
    export_path = run_dir / "hyperfine.json"
    warnings = []
    if export_path.exists():
        frame = export_to_runs_frame(parse_export(export_path))
    else:
        frame = pd.DataFrame(columns=RUNS_COLUMNS)
        warnings.append("hyperfine.json: missing (no benchmark finished); no timed runs")
    frame["seed"] = frame["seed"].astype(str)
    frame, epoch_list, pair_warnings, last = pair_runs(frame, run_dir, int(run["warmup"]))
    warnings += pair_warnings
    frame.to_csv(tables / "runs.csv", index=False, columns=RUNS_COLUMNS)
    pd.DataFrame(epoch_list, columns=EPOCH_COLUMNS).to_csv(tables / "epochs.csv", index=False)
    evaluator, eval_warnings = evaluate(run_dir, last)
    evaluator.to_csv(tables / "evaluator.csv", index=False)
    return warnings + eval_warnings


# ---------------------------------------------------------------- hyperfine exports alone


def import_exports(files: list[Path], out_dir: Path) -> None:
    """Start a results folder from hyperfine exports: copies in hyperfine-json/, a run.json.

    `report --hyperfine-json` renders any hyperfine export this way; the folder can then be
    re-rendered with `report DIR` like any other (no metrics: those sections say so).
    """
    if not files:
        raise HarnessError("report --hyperfine-json: no files given")
    existing = read_optional_json(out_dir / "run.json")
    if existing is not None and "hyperfine_exports" not in existing:
        raise HarnessError(f"{out_dir}: holds the results of a harness run; choose another --out")
    exports = [parse_export(f) for f in files]  # every file checked before anything is written
    copies = out_dir / "hyperfine-json"
    copies.mkdir(parents=True, exist_ok=True)
    for stale in copies.glob("*.json"):
        stale.unlink()
    stored: list[str] = []
    for f in files:
        name, n = f.name, 1
        while name in stored:  # same file name from two folders: a.json, a-2.json
            n += 1
            name = f"{f.stem}-{n}{f.suffix}"
        shutil.copyfile(f, copies / name)
        stored.append(name)
    contenders = _export_contenders(stored, exports)
    versions = sorted({e.hyperfine_version or f"schema {e.schema}" for e in exports})
    run = {
        "reference": contenders[0]["name"] if contenders else None,
        "contenders": contenders,
        "command": shlex.join(
            ["python", "-m", "harness", "report", "--hyperfine-json", *map(str, files)]
        ),
        "hyperfine": {"version": ", ".join(versions)},
        "parity": {"status": "skipped"},
        "source": [str(f) for f in files],
        "hyperfine_exports": stored,
    }
    write_json(out_dir / "run.json", run)


def _export_names(files: list[str], exports: list[Export]) -> list[list[str]]:
    """Contender names per file: the commands, or file stems when commands repeat."""
    names = [[r.name for r in e.results] for e in exports]
    flat = [n for group in names for n in group]
    if len(set(flat)) == len(flat):
        return names
    stems = [Path(f).stem for f in files]
    return [
        [stem if len(group) == 1 else f"{stem}: {n}" for n in group]
        for stem, group in zip(stems, names, strict=True)
    ]


def _export_contenders(files: list[str], exports: list[Export]) -> list[dict[str, Any]]:
    """run.json's contenders of an exports folder: unique name and command per result."""
    contenders: list[dict[str, Any]] = []
    for export, names in zip(exports, _export_names(files, exports), strict=True):
        for result, name in zip(export.results, names, strict=True):
            if all(c["name"] != name for c in contenders):
                contenders.append({"name": name, "argv": result.command})
    return contenders


def _ingest_exports(run_dir: Path, run: dict[str, Any]) -> list[str]:
    """tables/runs.csv and contenders.csv of an exports folder; no metrics, no evaluator."""
    files = [str(f) for f in run["hyperfine_exports"]]
    exports = [parse_export(run_dir / "hyperfine-json" / f) for f in files]
    frames = []
    for export, names in zip(exports, _export_names(files, exports), strict=True):
        renamed = replace(
            export,
            results=[replace(r, name=n) for r, n in zip(export.results, names, strict=True)],
        )
        frames.append(export_to_runs_frame(renamed))
    runs = pd.concat(frames, ignore_index=True)
    runs.to_csv(run_dir / "tables" / "runs.csv", index=False, columns=RUNS_COLUMNS)
    blank = {"implementation": "", "algorithm": "", "threads": ""}  # unknown from hyperfine
    contenders = pd.DataFrame(
        [{"contender": c["name"], **blank, "command": c["argv"]} for c in run["contenders"]]
    )
    contenders.to_csv(run_dir / "tables" / "contenders.csv", index=False)
    return []  # hyperfine's own exports pair with nothing: nothing to warn about
