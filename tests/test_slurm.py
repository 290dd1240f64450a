"""deploy/slurm on a real single-node Slurm started on localhost for the test: the job array
runs `harness run` twice, the merge job waits for it (--dependency=afterok) and merges.

Needs Debian's slurm-wlm and munge (.ci/run installs them); skips, saying why, when they are
missing or the daemons do not start. Everything lives in a temporary folder (config, state,
munge key and socket, logs) on free ports, and the daemons are stopped afterwards.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.model.analysis import read_analysis

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SLURM = ROOT / "deploy" / "slurm"
TOOLS = ("sbatch", "squeue", "scontrol", "sinfo", "scancel", "slurmctld", "slurmd", "munged")
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
START_TIMEOUT = 30  # seconds for the node to come up idle
JOB_TIMEOUT = 400  # seconds for the two runs and the merge


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf(work: Path, host: str) -> str:
    """A minimal one-node slurm.conf: everything under work/, munge on its own socket."""
    return f"""ClusterName=mlpbench
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={work}/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={work}/state
SlurmdSpoolDir={work}/spool
SlurmctldPidFile={work}/slurmctld.pid
SlurmdPidFile={work}/slurmd.pid
SlurmctldLogFile={work}/slurmctld.log
SlurmdLogFile={work}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/linear
ReturnToService=2
MpiDefault=none
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN
PartitionName=bench Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _tail(work: Path) -> str:
    logs = ("munged.log", "slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out")
    parts = [(work / n).read_text(errors="replace")[-600:] for n in logs if (work / n).is_file()]
    return " | ".join(p.strip().replace("\n", " / ") for p in parts)


@pytest.fixture
def slurm() -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd on localhost; the environment that reaches them."""
    if os.geteuid() != 0:
        pytest.skip("a private Slurm needs root here (SlurmUser=root)")
    missing = [t for t in (*TOOLS, "mungekey") if shutil.which(t, path=SEARCH) is None]
    if missing:
        pytest.skip(
            f"Slurm or munge not installed ({', '.join(missing)}): apt-get install slurm-wlm munge"
        )
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed: the rust contender cannot be built")
    tool = {t: shutil.which(t, path=SEARCH) or t for t in (*TOOLS, "mungekey")}
    work = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))  # short: the socket path
    work.chmod(0o755)  # munged wants its socket's folder searchable by all
    for sub in ("state", "spool", "shared"):
        (work / sub).mkdir()
    host = socket.gethostname().split(".")[0]
    (work / "slurm.conf").write_text(_conf(work, host))
    env = {**os.environ, "SLURM_CONF": str(work / "slurm.conf"), "PATH": SEARCH}
    daemons: list[subprocess.Popen] = []
    munged = [
        tool["munged"],
        "--foreground",
        f"--socket={work}/munge.sock",
        f"--pid-file={work}/munged.pid",
    ]
    munged += [f"--key-file={work}/munge.key", f"--log-file={work}/munged.log"]
    munged += [f"--seed-file={work}/munged.seed"]
    try:
        subprocess.run([tool["mungekey"], "--create", f"--keyfile={work}/munge.key"], check=True)
        with (work / "munged.out").open("w") as out:
            daemons.append(subprocess.Popen(munged, stdout=out, stderr=subprocess.STDOUT))
        _wait_for(work / "munge.sock", daemons[0])
        for name, extra in (("slurmctld", []), ("slurmd", ["-N", host])):
            with (work / f"{name}.out").open("w") as out:
                daemons.append(
                    subprocess.Popen(
                        [tool[name], "-D", "-f", str(work / "slurm.conf"), *extra],
                        env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                    )
                )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        state = ""
        while time.monotonic() < deadline and state != "idle":
            time.sleep(0.5)
            if any(d.poll() is not None for d in daemons):
                break
            state = _run(env, "sinfo", "-h", "-o", "%T", "-n", host, check=False).strip()
        if state != "idle":
            pytest.skip(f"Slurm did not start here (node state {state!r}): {_tail(work)}")
        yield {**env, "WORK": str(work)}
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"Slurm or munge could not be started: {exc}: {_tail(work)}")
    finally:
        _run(env, "scancel", "--full", "--user=root", check=False)
        for d in reversed(daemons):
            _stop(d)
        shutil.rmtree(work, ignore_errors=True)


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    """Until path exists (the daemon's socket); OSError when the daemon exits or 20 s pass."""
    deadline = time.monotonic() + 20
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise OSError(f"{process.args[0]} did not create {path} (exit {process.poll()})")
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def _run(env: dict[str, str], *argv: str, check: bool = True) -> str:
    """A Slurm client command's stdout."""
    path = shutil.which(argv[0], path=env["PATH"]) or argv[0]
    done = subprocess.run([path, *argv[1:]], env=env, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _jobs(env: dict[str, str], job: str) -> list[dict[str, str]]:
    """`scontrol show job -o JOB` as one dict per job (every task of an array)."""
    lines = _run(env, "scontrol", "show", "job", "-o", job).splitlines()
    return [dict(w.split("=", 1) for w in line.split() if "=" in w) for line in lines]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_job_array_runs_on_every_task_and_the_merge_job_waits_for_it(slurm):
    work = Path(slurm["WORK"])
    shared = work / "shared"
    env = {
        **slurm,
        "MLP_BENCH_DIR": str(ROOT),
        "MLP_BENCH_SHARED": str(shared),
        "MLP_BENCH_PYTHON": sys.executable,
        "MLP_BENCH_ARGS": "--seeds 1,2 --runs 1 --warmup 0 --contenders python-numpy,rust "
        "--target 0.5 --quiet",
    }
    out = subprocess.run(
        [str(SLURM / "submit.sh"), "2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    ids = re.match(r"array job (\d+) \(2 tasks\), merge job (\d+) ", out.stdout)
    assert ids, out.stdout
    array, merge_job = ids.groups()
    deadline = time.monotonic() + JOB_TIMEOUT
    while _run(env, "squeue", "-h", "-j", f"{array},{merge_job}").strip():
        assert time.monotonic() < deadline, f"jobs still queued: {_tail(work)}"
        time.sleep(2)
    tasks, (merging,) = _jobs(env, array), _jobs(env, merge_job)
    logs = " | ".join(p.read_text()[-400:] for p in shared.glob("*.out"))
    assert sorted(t["ArrayTaskId"] for t in tasks) == ["1", "2"], logs
    assert {t["JobState"] for t in tasks} == {"COMPLETED"}, logs
    assert merging["JobState"] == "COMPLETED", logs
    assert _time(merging["StartTime"]) >= max(_time(t["EndTime"]) for t in tasks)
    # Two results folders on this host's shared folder, merged into one machine row.
    host_root = shared / "results" / socket.gethostname().split(".")[0]
    folders = sorted(p for p in host_root.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(folders) == 2
    merged = json.loads((shared / "merged" / "merged.json").read_text())
    (group,) = merged["groups"]
    assert len(group["machines"]) == 1, json.dumps(group["machines"], indent=1)[:4000]
    (machine,) = group["machines"]
    assert sorted(machine["folders"]) == [str(f) for f in folders]
    assert group["workload"]["target"] == 0.5
    (pair,) = group["pairs"]
    own = [read_analysis(f).to_dict()["comparisons"][0] for f in folders]
    assert pair["n"] == sum(o["n"] for o in own) == 4
    assert sorted(pair["folder_ratios"]) == sorted(o["ratio"] for o in own)
    logs_by_hand = []
    for f in folders:
        runs = pd.read_csv(f / "tables" / "runs.csv", dtype={"seed": str})
        a, b = (runs[runs["contender"] == c].set_index("seed") for c in ("python-numpy", "rust"))
        logs_by_hand += list(np.log(a["wall_seconds"] / b.loc[a.index, "wall_seconds"]))
    assert math.isclose(pair["ratio"], math.exp(np.mean(logs_by_hand)), rel_tol=1e-12)
    summary = (shared / "merged" / "summary.md").read_text()
    assert "at equal threads on" in summary and (shared / "merged" / "report.html").is_file()
