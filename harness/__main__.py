"""`python -m harness` / `harness`: one function per subcommand and a dispatch table."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from harness import __version__
from harness.errors import HarnessError

REQUIRED = ("numpy", "pandas", "matplotlib", "jinja2", "scipy", "safetensors", "rich")
DEFAULT_VERIFY = ("python-numpy", "python-numpy-per-sample", "rust", "rust-per-sample", "rust@2")


def _ints(text: str, flag: str, minimum: int) -> list[int]:
    """A comma list of integers >= minimum (`--seeds 1,2,3`)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < minimum for v in values):
        raise HarnessError(
            f"{flag}: expected integers >= {minimum} separated by commas, got {text!r}"
        )
    return values


def _int(text: str, flag: str, minimum: int) -> int:
    """One integer >= minimum."""
    values = _ints(text, flag, minimum)
    if len(values) != 1:
        raise HarnessError(f"{flag}: expected one integer >= {minimum}, got {text!r}")
    return values[0]


def missing_dependencies() -> str | None:
    """One line naming the project's venv when this Python lacks the harness's libraries."""
    import importlib.util

    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    venv = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
    how = (
        f"run it with the project's venv: {venv} -m harness ... (or `. .venv/bin/activate` first)"
        if venv.is_file()
        else "create the project's venv first: `make bench` does it, or "
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'"
    )
    return f"{sys.executable} lacks {', '.join(missing)}: {how}"


def _logger(quiet: bool) -> Callable[[str], None]:
    """print, or nothing with --quiet."""
    return (lambda _line: None) if quiet else (lambda line: print(line, flush=True))


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    """prepare -> verify -> measure -> ingest -> analyze -> plot -> report (harness.run)."""
    from harness import run

    argv_line = ["python", "-m", "harness", *argv]
    return run.run(_run_options(args), argv_line, _logger(args.quiet), args.store)


def _run_options(args: argparse.Namespace):
    """RunOptions from the command line (each value checked, one line per mistake)."""
    from harness.measurement import noise
    from harness.preparation import prepare
    from harness.preparation.contenders import parse_threads

    names = [c.strip() for c in (args.contenders or "").split(",") if c.strip()] or None
    if args.contenders is not None and names is None:
        raise HarnessError(f"--contenders: expected contender names, got {args.contenders!r}")
    return prepare.RunOptions(
        dataset=args.dataset,
        data_dir=Path(args.data_dir) if args.data_dir is not None else None,
        contenders=names if names is not None else prepare.RunOptions().contenders,
        contenders_file=Path(args.contenders_file) if args.contenders_file else None,
        seeds=list(dict.fromkeys(_ints(args.seeds, "--seeds", 0))),
        runs=_int(args.runs, "--runs", 1),
        warmup=_int(args.warmup, "--warmup", 0),
        threads=parse_threads(args.threads) if args.threads else None,
        target=args.target,
        max_epochs=_int(args.max_epochs, "--max-epochs", 1) if args.max_epochs else None,
        out=Path(args.out),
        quiet=args.quiet,
        skip_parity=args.skip_parity,
        cpus=noise.parse_cpus(args.cpus) if args.cpus is not None else None,
        precision=args.precision,
        max_time=args.max_time,
        timeout=args.timeout,
    )


_MAIN_PID = os.getpid()


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (or SIGHUP: the terminal closed) stops the harness like Ctrl-C: in-flight
    processes stopped, results kept, outcome.json marked interrupted.

    A forked worker (the plot stage's pool, which its parent ends with SIGTERM) just dies.
    """
    if os.getpid() != _MAIN_PID:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt


def rebuild(
    run_dir: Path, log: Callable[[str], None], first_stage: int = 1, recompute: bool = False
) -> Path:
    """ingest -> analyze -> plot -> report (harness.stages); the report's path."""
    from harness import stages

    return stages.rebuild(run_dir, log, first_stage, recompute)


def cmd_report(args: argparse.Namespace, argv: list[str]) -> int:
    """Rebuild a results folder's report, or render hyperfine JSON files alone."""
    log = _logger(args.quiet)
    if args.hyperfine_json:
        from harness.measurement.imports import import_exports
        from harness.model.results import new_results_dir

        run_dir = Path(args.out) if args.out else new_results_dir(Path("results"))
        import_exports([Path(f) for f in args.hyperfine_json], run_dir)
    else:
        if not args.dir:
            raise HarnessError("report: expected a results folder, or --hyperfine-json FILE...")
        run_dir = Path(args.dir)
        if not run_dir.is_dir():
            raise HarnessError(f"{run_dir}: not a results folder (no such directory)")
        run_dir = run_dir.resolve()  # results/latest is a link; links inside are refused
    print(rebuild(run_dir, log, first_stage=1, recompute=args.recompute))
    return 0


def cmd_compare(args: argparse.Namespace, argv: list[str]) -> int:
    """Two results folders side by side; non-zero when the second regressed."""
    from harness.presentation import compare

    cfg = compare.CompareConfig(threshold=args.threshold, allow_different=args.allow_different)
    text, status = compare.compare(Path(args.a), Path(args.b), cfg)
    print(text)
    return status


def cmd_merge(args: argparse.Namespace, argv: list[str]) -> int:
    """Many results folders (any machines) -> one cross-machine report; 2 when none merged."""
    from harness.pooling import merge, merge_report

    inputs, out = [Path(d) for d in args.dirs], Path(args.out)
    merge.check_paths(inputs, out)
    merged = merge.merge(inputs, log=lambda line: print(line, file=sys.stderr, flush=True))
    if not merged.groups:
        raise HarnessError(f"merge: none of the {merged.inputs} folders could be merged")
    page = merge_report.write(merged, out)
    folders = sum(len(m.folders) for g in merged.groups for m in g.machines)
    _logger(args.quiet)(f"merged {folders} of {merged.inputs} folders")
    print(page)
    return 0


def cmd_verify(args: argparse.Namespace, argv: list[str]) -> int:
    """Train every contender K steps from one initial model; compare all pairs."""
    from harness.measurement import verify
    from harness.preparation import datasets, prepare
    from harness.preparation.contenders import parse_threads, select, torch_available
    from harness.preparation.referee import write_inits

    names = (
        [c.strip() for c in args.contenders.split(",") if c.strip()]
        if args.contenders
        else [*DEFAULT_VERIFY, *(["python-torch"] if torch_available() else [])]
    )
    extra = Path(args.contenders_file) if args.contenders_file else None
    contenders = select(names, parse_threads(args.threads) if args.threads else None, extra)
    steps = _int(args.steps, "--steps", 1)
    prepare.build_rust(contenders, args.quiet)
    data_dir = datasets.resolve(args.dataset, Path(args.data_dir) if args.data_dir else None)
    with tempfile.TemporaryDirectory(prefix="harness-verify-") as tmp:
        work = Path(tmp)
        spec = prepare.make_spec(args.dataset, data_dir, 0.99, None)
        prepare.write_spec(work / "spec.json", spec)
        init = write_inits(work / "init", spec["layers"], [1])[1]
        result = verify.verify(contenders, work / "spec.json", init, steps, work)
    if args.out:
        verify.write_parity(Path(args.out), result)
    print(verify.format_table(result))
    return 0 if result["status"] == "passed" else 1


def cmd_data(args: argparse.Namespace, argv: list[str]) -> int:
    """`data fetch NAME`: download a dataset into the cache (verified by sha256)."""
    from harness.preparation import datasets

    print(datasets.fetch(args.name))
    return 0


def cmd_env(args: argparse.Namespace, argv: list[str]) -> int:
    """What is installed, what is missing, and how to get it."""
    from harness.preparation import envinfo

    text, ok = envinfo.format_checklist(envinfo.capture())
    print(text)
    return 0 if ok else 1


def cmd_store(args: argparse.Namespace, argv: list[str]) -> int:
    """`store add DIR...`: index results folders into the store (idempotent)."""
    from harness.pooling import store

    url = store.resolve(args.store)
    return store.add_folders([Path(d) for d in args.dirs], url, _logger(args.quiet))


def cmd_history(args: argparse.Namespace, argv: list[str]) -> int:
    """Each like-for-like ratio over time, its change points; 1 on a newest-run regression."""
    from harness.pooling import history_render, store
    from harness.pooling.history import HistoryConfig

    if args.last < 0:
        raise HarnessError(f"--last: expected a number of runs >= 0 (0: all), got {args.last}")
    opened = store.open_store(store.resolve(args.store), create=False)
    cfg = HistoryConfig(threshold=args.threshold)
    series = history_render.build(opened.series_rows(args.metric, args.last), cfg)
    print(history_render.text(series, opened.name, args.metric, cfg), end="")
    page = Path(args.html)
    try:
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(history_render.html(series, opened.name, args.metric, cfg), "utf-8")
    except OSError as exc:
        raise HarnessError(f"{page}: cannot write the page: {exc.strerror}") from exc
    print(f"page: {page}")
    regressed = any(s.result.newest_regression for s in series)
    return 1 if args.fail_on_regression and regressed else 0


COMMANDS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {
    "run": cmd_run,
    "report": cmd_report,
    "compare": cmd_compare,
    "merge": cmd_merge,
    "verify": cmd_verify,
    "data": cmd_data,
    "env": cmd_env,
    "store": cmd_store,
    "history": cmd_history,
}


def _dataset_flags(p: argparse.ArgumentParser) -> None:
    """--dataset and --data-dir, shared by run and verify."""
    p.add_argument(
        "--dataset",
        default="mnist-mini",
        help="mnist-mini (embedded, default), mnist or fashion-mnist",
    )
    p.add_argument("--data-dir", help="a folder with the four IDX files (gzipped or not)")


def _contenders_file(p: argparse.ArgumentParser) -> None:
    """--contenders-file, shared by run and verify."""
    p.add_argument(
        "--contenders-file",
        metavar="FILE",
        help="JSON file of your own contenders (README: Add your own contender)",
    )


def _fraction(text: str) -> float:
    """A number in (0, 1) for --precision."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1) like 0.03, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per command."""
    top = argparse.ArgumentParser(
        prog="harness", description="Benchmark the same MLP in Rust and Python, fairly."
    )
    top.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="prepare, verify, time with hyperfine, analyze, report")
    _dataset_flags(run)
    run.add_argument(
        "--contenders",
        help="comma list (default: python-numpy, rust, python-numpy-parallel, rust-parallel, "
        "and python-torch[-parallel] when installed; -parallel = all cores): also "
        "<name>-per-sample, <name>@N (N threads), names from --contenders-file",
    )
    _contenders_file(run)
    run.add_argument("--seeds", default="1,2,3", help="shared initial models (default 1,2,3)")
    run.add_argument(
        "--runs", default="2", help="timed rounds; each runs every contender and seed once (2)"
    )
    run.add_argument(
        "--warmup", default="1", help="untimed rounds before those, each contender once (1)"
    )
    run.add_argument(
        "--precision",
        type=_fraction,
        help="add rounds until every like-for-like ratio's 95 %% CI is within this "
        "fraction of the ratio (0.03 = ±3 %%), or --max-time is spent",
    )
    run.add_argument(
        "--max-time", type=float, default=None, help="seconds of measuring at most (900)"
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds one process may run before it is killed with its group (default: 10x "
        "the reference's slowest run so far, at least 60)",
    )
    run.add_argument("--cpus", help="pin the contenders to these CPUs, as taskset -c: 0,1 or 0-3")
    run.add_argument(
        "--threads",
        help="threads of the parallel contenders (default: all "
        "cores); a list like 1,2 makes rust@1, rust@2",
    )
    run.add_argument("--target", type=float, help="test accuracy to reach (dataset default)")
    run.add_argument("--max-epochs", help="give up after this many epochs (spec: 50)")
    run.add_argument("--out", default="results", help="results root (default ./results)")
    run.add_argument("--quiet", action="store_true", help="no stage lines or progress bar")
    run.add_argument("--skip-parity", action="store_true", help="skip the parity check")
    _store_flag(run)

    rep = sub.add_parser(
        "report", help="rebuild a results folder's report, or render hyperfine JSON exports"
    )
    rep.add_argument("dir", nargs="?", help="a results folder")
    rep.add_argument("--hyperfine-json", nargs="+", metavar="FILE", help="hyperfine exports")
    rep.add_argument(
        "--out", help="output folder for --hyperfine-json (default: a new one under results/)"
    )
    rep.add_argument("--quiet", action="store_true", help="print only the report's path")
    rep.add_argument(
        "--recompute",
        action="store_true",
        help="rerun ingest, analyze and plot even when their files are unchanged",
    )

    cmp = sub.add_parser("compare", help="two results folders side by side")
    cmp.add_argument("a", help="the baseline results folder")
    cmp.add_argument("b", help="the results folder to compare with it")
    cmp.add_argument(
        "--threshold",
        type=_fraction,
        default=0.03,
        help="smallest relative change called, above what an A/A check of identical code "
        "shows on this machine (0.03)",
    )
    cmp.add_argument(
        "--allow-different",
        action="store_true",
        help="compare folders of different specs or machines (refused by default)",
    )

    mrg = sub.add_parser("merge", help="many results folders (machines) -> one report")
    mrg.add_argument(
        "dirs",
        nargs="+",
        metavar="DIR",
        help="results folders, or folders holding them (a results root, one host's folder)",
    )
    mrg.add_argument("--out", default="merged", help="where the merged report goes (./merged)")
    mrg.add_argument("--quiet", action="store_true", help="print only the report's path")

    ver = sub.add_parser("verify", help="parity: every contender trains K steps, models agree")
    _dataset_flags(ver)
    ver.add_argument(
        "--steps", default="10", help="optimizer steps K (10 = one mnist-mini epoch at batch 512)"
    )
    ver.add_argument(
        "--contenders",
        help="comma list (default: python-numpy and rust, "
        "batched and per-sample, rust@2, python-torch when installed)",
    )
    ver.add_argument("--threads", help="threads of the parallel contenders")
    _contenders_file(ver)
    ver.add_argument("--out", help="also write the result as JSON here")
    ver.add_argument("--quiet", action="store_true", help="quiet cargo build")

    data = sub.add_parser("data", help="datasets")
    data_sub = data.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = data_sub.add_parser("fetch", help="download a dataset into the cache")
    fetch.add_argument("name", help="mnist or fashion-mnist (mnist-mini is embedded)")

    sub.add_parser("env", help="installed tools and versions; what is missing and how to get it")

    sto = sub.add_parser("store", help="the results store (SQLite, or PostgreSQL for a team)")
    sto_sub = sto.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sto_sub.add_parser("add", help="index results folders (adding one twice is one run)")
    add.add_argument("dirs", nargs="+", metavar="DIR", help="results folders")
    _store_flag(add)
    add.add_argument("--quiet", action="store_true", help="errors only")

    his = sub.add_parser("history", help="each ratio over time per machine and spec, its steps")
    _store_flag(his)
    his.add_argument(
        "--metric", choices=("run", "epoch"), default="run", help="whole run (default) or epoch"
    )
    his.add_argument(
        "--last", type=int, default=200, help="the newest N runs of each series (0: all; 200)"
    )
    his.add_argument(
        "--html", default="results/history.html", help="the page (results/history.html)"
    )
    his.add_argument(
        "--threshold",
        type=_fraction,
        default=0.03,
        help="smallest step called, above A/A noise (0.03, as compare)",
    )
    his.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when the newest run is a confirmed step for the worse (a CI gate)",
    )
    return top


def _store_flag(p: argparse.ArgumentParser) -> None:
    """--store URL, shared by run, store add and history."""
    p.add_argument(
        "--store",
        metavar="URL",
        help="sqlite:///FILE, a file, or postgresql://user@host/db (default: $MLP_BENCH_STORE, "
        "else results/history.sqlite)",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m harness` and the `harness` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    missing = missing_dependencies()
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    in_main_thread = threading.current_thread() is threading.main_thread()
    stops = (signal.SIGTERM, signal.SIGHUP) if hasattr(signal, "SIGHUP") else (signal.SIGTERM,)
    previous = {s: signal.signal(s, _on_sigterm) for s in stops} if in_main_thread else {}
    try:
        return COMMANDS[args.command](args, argv)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: `harness {args.command}` stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `harness compare A B | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a full disk, a read-only folder: the file and the reason, no trace
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
