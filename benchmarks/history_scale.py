"""The results store at scale: a SQLite store of 10,000 runs; `history` and `store add` timed.

    python benchmarks/history_scale.py [--runs-in-store 10000] [--runs 5]

The store holds one machine and spec with the default run's like-for-like ratios (rust vs
python-numpy at 1 thread, rust-parallel vs python-numpy-parallel at 2), whole run and per
epoch, each simulated from paired timings with 5 % noise (tests/data/history_factory.py) and a
10 % step halfway. Timed with hyperfine in interleaved rounds (`--runs` rounds, each command
once per round), as a user waits for them:

  history         python -m harness history (the default window: the newest 200 runs per series)
  history --all   python -m harness history --last 0 (all 10,000 runs of each series)
  store add       python -m harness store add DIR: one real results folder (the results
                  factory's, analysed) into the 10,000-run store; --prepare takes it out again
  imports only    Python start-up and the modules `history` imports (scipy through ruptures,
                  matplotlib, SQLAlchemy): the part of `history` that does not grow with the store

and, inside one process, the store's own part of `store add` (read the folder, open the store,
add) and of `history` (query, change points, text and page), without Python's start-up.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from data.history_factory import History, runs  # noqa: E402
from data.results_factory import write_results  # noqa: E402

from harness.analysis.analyze import analyze  # noqa: E402
from harness.model.hyperfine import find_hyperfine, parse_export  # noqa: E402
from harness.pooling import history_render, store  # noqa: E402
from harness.pooling.history import HistoryConfig  # noqa: E402
from harness.pooling.store_index import read_folder  # noqa: E402

FORGET = (
    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA foreign_keys=ON'); "
    "c.execute('DELETE FROM runs WHERE folder = ?', (sys.argv[2],)); c.commit()"
)


def fill(url: str, count: int) -> None:
    """count runs, two ratios x two metrics each, in one transaction."""
    h = History(runs=count, noise=0.05, step=0.10, step_at=count // 2, tag="scale")
    parallel = History(
        runs=count, noise=0.05, reference_seconds=1.3, contender_seconds=0.8, tag="p", seed=2
    )
    opened = store.open_store(store.resolve(url))
    batch = []
    for one, two in zip(runs(h), runs(parallel), strict=True):
        first = one.ratios[0]
        second = {**two.ratios[0], "contender": "rust-parallel"}
        second["reference"] = "python-numpy-parallel"
        one.ratios = [first, second] + [{**r, "metric": "epoch"} for r in (first, second)]
        batch.append(one)
    opened.add_many(batch)


def in_process(url: str, folder: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds of the store's part of `store add` and of `history`, per round."""
    times: dict[str, list[float]] = {"add": [], "history": []}
    for i in range(rounds):
        copy = folder.with_name(f"{folder.name}-inproc-{i}")
        subprocess.run(["cp", "-r", str(folder), str(copy)], check=True)
        start = time.perf_counter()
        status = store.open_store(store.resolve(url)).add(read_folder(copy))
        times["add"].append(time.perf_counter() - start)
        assert status == "added", status
        start = time.perf_counter()
        cfg = HistoryConfig()
        opened = store.open_store(store.resolve(url), create=False)
        series = history_render.build(opened.series_rows("run", 200), cfg)
        history_render.text(series, opened.name, "run", cfg)
        history_render.html(series, opened.name, "run", cfg)
        times["history"].append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-in-store", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="history-scale-") as tmp:
        work = Path(tmp)
        db = work / "history.sqlite"
        url = f"sqlite:///{db}"
        start = time.perf_counter()
        fill(url, args.runs_in_store)
        print(f"filled {args.runs_in_store} runs in {time.perf_counter() - start:.1f} s")
        folder = write_results(work / "20261201-000000-bench")
        analyze(folder)
        py, html, q = shlex.quote(sys.executable), shlex.quote(str(work / "h.html")), shlex.quote
        base = f"{py} -m harness history --store {q(str(db))} --html {html}"
        add = f"{py} -m harness store add {q(str(folder))} --store {q(str(db))}"
        prepare = f"{py} -c {q(FORGET)} {q(str(db))} {q(str(folder.resolve()))}"
        commands = {"history": (base, "true"), "history --all": (f"{base} --last 0", "true")}
        commands["store add"] = (add, prepare)
        imports = "import harness.__main__, ruptures, harness.pooling.store"
        imports += ", harness.pooling.history_render"
        commands["imports only"] = (f"{py} -c {q(imports + ', matplotlib.figure')}", "true")
        times: dict[str, list[float]] = {name: [] for name in commands}
        export = work / "hyperfine.json"
        for _round in range(args.runs):
            for name, (command, before) in commands.items():
                subprocess.run(
                    [str(find_hyperfine()), "-N", "--runs", "1", "--prepare", before,
                     "--export-json", str(export), command],
                    check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                times[name] += [
                    m.wall_seconds for m in parse_export(export).results[0].measurements
                ]
        for name, t in times.items():
            print(
                f"{name:>22}: median {statistics.median(t):.2f} s "
                f"(min {min(t):.2f}, max {max(t):.2f}, {len(t)} runs)"
            )
        inner = in_process(url, folder, args.runs)
        for name, t in inner.items():
            print(
                f"{'in-process ' + name:>22}: median {statistics.median(t):.3f} s "
                f"(min {min(t):.3f}, max {max(t):.3f})"
            )
        print(f"store size: {db.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
