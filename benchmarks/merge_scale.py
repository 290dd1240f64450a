"""How `python -m harness merge` grows with the number of folders: wall time and peak memory.

    python benchmarks/merge_scale.py [DIR...] [--sizes 25,50,100,200] [--rounds 3] [--machines 0]

DIR: real results folders (default: every folder under results/). N folders are made from
them in a temporary folder, folder i a copy of DIR[i mod len(DIR)] with its env.json's host
renamed node-<i> (so, by default, N distinct machines: the largest page, one row per folder
and pair); --machines M names M hosts instead, so folders pool. Copies leave out models/,
init/, metrics/ and hyperfine/: merge reads run.json, env.json, spec.json, analysis.json
and tables/ only. Each size runs once per round, the sizes in a shuffled order
per round (interleaved, so a slow spell of the machine does not land on one size); the wall
time, CPU time and peak RSS of each `merge` process (os.wait4) are printed, with a least-squares
line seconds = a + b * N.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = ("models", "init", "metrics", "hyperfine", "plots", "report.html", "parity")


def make_folders(sources: list[Path], count: int, machines: int, into: Path) -> list[Path]:
    """count folders copied round-robin from sources, each on host node-<i mod machines>."""
    out = []
    for i in range(count):
        source = sources[i % len(sources)]
        folder = into / f"{i:04d}-{source.name}"
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns(*SKIP))
        env = json.loads((folder / "env.json").read_text())
        env["hostname"] = f"node-{(i % machines) if machines else i:04d}"
        (folder / "env.json").write_text(json.dumps(env))
        out.append(folder)
    return out


def timed_merge(folders: list[Path], out: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one `harness merge`."""
    argv = [sys.executable, "-m", "harness", "merge", *map(str, folders), "--out", str(out)]
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"merge of {len(folders)} folders failed (exit {status})")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="*", help="real results folders (default results/*)")
    parser.add_argument("--sizes", default="25,50,100,200", help="folder counts (25,50,100,200)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--machines", type=int, default=0, help="distinct hosts (0: one each)")
    args = parser.parse_args()
    sources = [Path(d) for d in args.dirs] or sorted(
        p for p in (ROOT / "results").glob("*") if (p / "run.json").is_file() and not p.is_symlink()
    )
    if not sources:
        print("error: no results folders given and none under results/", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",")]
    times: dict[int, list[float]] = {n: [] for n in sizes}
    peaks: dict[int, list[float]] = {n: [] for n in sizes}
    cpus: dict[int, list[float]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory(prefix="merge-scale-") as tmp:
        pool = make_folders(sources, max(sizes), args.machines, Path(tmp) / "folders")
        order = random.Random(1)
        for r in range(args.rounds):
            for n in order.sample(sizes, len(sizes)):
                wall, cpu, peak = timed_merge(pool[:n], Path(tmp) / f"out-{n}-{r}")
                times[n].append(wall)
                cpus[n].append(cpu)
                peaks[n].append(peak)
                line = f"{n:4d} folders {wall:6.2f} s wall {cpu:6.2f} s CPU {peak:7.1f} MiB"
                print(f"round {r + 1}: {line}", flush=True)
    print(f"\nfrom {len(sources)} real folder(s): {', '.join(s.name for s in sources)}")
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} cores")
    head = f"{'folders':>8} {'wall s':>7} {'range':>12} {'CPU s':>6} {'peak MiB':>9}"
    print(head)
    for n in sizes:
        med = statistics.median(times[n])
        spread = f"{min(times[n]):.2f}-{max(times[n]):.2f}"
        cpu = statistics.median(cpus[n])
        print(f"{n:8d} {med:7.2f} {spread:>12} {cpu:6.2f} {max(peaks[n]):9.1f}")
    for name, data in (("wall", times), ("CPU", cpus)):
        medians = [statistics.median(data[n]) for n in sizes]
        slope, intercept = statistics.linear_regression(sizes, medians)
        print(f"least squares, {name}: {intercept:.2f} s + {1000 * slope:.1f} ms per folder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
