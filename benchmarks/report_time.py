"""Wall time of `python -m harness report DIR`, timed by hyperfine, on a copy of a results folder.

    python benchmarks/report_time.py [DIR] [--runs 10]

DIR defaults to results/latest; issue 4's figure is for 4 contenders x 30 timed runs, e.g. the
folder of `python -m harness run --contenders python-numpy,rust,rust-parallel,rust-per-sample
--runs 10`. Two commands, interleaved by hyperfine's own order, on one copy:
  unchanged: the folder as `run` left it; every derived stage is up to date, only the HTML
             is rendered (what a user re-rendering a report waits for);
  recompute: --recompute: ingest (with re-scoring every saved model), analyze, plot and the
             report, as after a harness upgrade or an edit to the raw files.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.model.hyperfine import find_hyperfine, parse_export  # noqa: E402


def main() -> int:
    """Copy the folder, time both commands with hyperfine, print medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", nargs="?", default=str(ROOT / "results" / "latest"))
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (10)")
    args = parser.parse_args()
    source = Path(args.dir).resolve()
    if not (source / "run.json").is_file():
        print(f"error: {source}: not a results folder (no run.json)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="report-time-") as tmp:
        folder = Path(tmp) / "run"
        shutil.copytree(source, folder, symlinks=True)
        report = [sys.executable, "-m", "harness", "report", str(folder), "--quiet"]
        subprocess.run([*report, "--recompute"], check=True, stdout=subprocess.DEVNULL)
        export = Path(tmp) / "hyperfine.json"
        subprocess.run(
            [
                str(find_hyperfine()),
                "--warmup",
                "1",
                "--runs",
                str(args.runs),
                "--export-json",
                str(export),
                "--command-name",
                "unchanged",
                shlex.join(report),
                "--command-name",
                "recompute",
                shlex.join([*report, "--recompute"]),
            ],
            check=True,
        )
        results = {r.name: r for r in parse_export(export).results}
        with (folder / "tables" / "runs.csv").open(newline="") as stream:
            rows = list(csv.DictReader(stream))
    contenders = {row["contender"] for row in rows}
    print(f"\nfolder: {source} ({len(contenders)} contenders, {len(rows)} timed runs in all)")
    medians = {
        name: statistics.median(m.wall_seconds for m in result.measurements)
        for name, result in results.items()
    }
    for name, median in medians.items():
        print(f"report DIR, {name:9}: median {median:.2f} s over {args.runs} runs")
    print(f"recompute / unchanged: {medians['recompute'] / medians['unchanged']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
