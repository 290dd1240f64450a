"""Fault injection: both contenders on bad bytes, wrong types, full disks, signals, concurrency.

Every case runs the NumPy reference and the Rust binary on the same bytes and asserts the exit
status and the one stderr line CONTRACT.md gives (identical in both, never a traceback), and that
what an earlier run left behind is still there: the metrics lines already in the --metrics-out
file, and the model file at the --save-model path, byte for byte. A model is only ever written
through a temporary file renamed over a regular file: never into a device, FIFO, folder or
symlink, and never half (a full disk leaves the earlier model and no temporary file).
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import tmpfs
from safetensors.numpy import load_file, save_file
from test_contract_agreement import MINI, contender_commands, init_file, write_spec


@pytest.fixture(scope="module")
def programs() -> dict[str, list[str]]:
    """The two contender command lines (the Rust binary built)."""
    return contender_commands()


EARLIER = '{"event":"end","run_id":"an-earlier-run","status":"reached_target"}\n'
EARLIER_MODEL = b"the model an earlier run saved"


def idx_counts() -> tuple[int, int]:
    """The numbers of training and test samples in mnist-mini."""
    counts = []
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        counts.append(int.from_bytes(gzip.decompress((MINI / name).read_bytes())[4:8], "big"))
    return counts[0], counts[1]


def spec_text(tmp: Path, replace: tuple[str, str] | None = None, **changes: object) -> Path:
    """The default spec (one line of JSON) with changes, optionally one text replacement."""
    path = write_spec(tmp, **changes)
    if replace is not None:
        text = path.read_text()
        assert replace[0] in text
        path.write_text(text.replace(replace[0], replace[1], 1))
    return path


def column_of(path: Path, literal: str, last: bool = True) -> int:
    """The 1-based column of the last (or first) character of `literal` in a one-line file."""
    start = path.read_text().index(literal)
    return start + (len(literal) if last else 1)


def gz_data(tmp: Path, name: str, edit: Callable[[bytes], bytes]) -> Path:
    """A copy of mnist-mini whose gzipped file `name` went through `edit` (on the .gz bytes)."""
    data = tmp / "data"
    shutil.copytree(MINI, data)
    path = data / f"{name}.gz"
    path.write_bytes(edit(path.read_bytes()))
    return data


def with_data(tmp: Path, data: Path) -> list[str]:
    return ["--spec", str(write_spec(tmp, dataset={"name": "x", "dir": str(data)}))]


def two_members(gz: bytes) -> bytes:
    raw = gzip.decompress(gz)
    return gzip.compress(raw[:100], 1, mtime=0) + gzip.compress(raw[100:], 1, mtime=0)


def bad_crc(gz: bytes) -> bytes:
    return gz[:-8] + bytes(b ^ 0xFF for b in gz[-8:-4]) + gz[-4:]


def huge_header(gz: bytes) -> bytes:
    raw = gzip.decompress(gz)
    return gzip.compress(raw[:4] + b"\xff" * 12 + raw[16:], 1, mtime=0)


def nan_init(tmp: Path) -> Path:
    path = init_file(tmp)
    tensors = {
        "layers.0.weight": np.zeros((256, 784), np.float32),
        "layers.0.bias": np.zeros(256, np.float32),
        "layers.1.weight": np.zeros((10, 256), np.float32),
        "layers.1.bias": np.zeros(10, np.float32),
    }
    tensors["layers.1.weight"][3, 7] = np.nan
    save_file(tensors, str(path))
    return path


def raw_file(tmp: Path, name: str, content: bytes) -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


NOT_UTF8 = b"\xff\xe2\x82-\xf0\x80\x80-\xed\xa0\x80"  # a lone, a cut, an overlong, a surrogate
EXPONENTS = {  # a learning rate, and the end of its text where serde_json stops reading it
    "exponent of 11 digits": ("1e99999999999", "1e9999999999"),  # past 2^31 - 1 at the 10th
    "exponent past 2^31 - 1 at its 11th digit": ("1e21474836470", "1e21474836470"),
    "exponent of 30 digits after 20 zeros": (
        "2.5e" + "0" * 20 + "9" * 30,
        "2.5e" + "0" * 20 + "9" * 10,
    ),
}
BIG = "1" + "0" * 400
HUGE = "1" + "0" * 5000
TRAIN, TEST = idx_counts()
ROWS = max(min(512, TRAIN), TEST)
WIDE = [784, (2**31 - 1) // ROWS, 10]


def case(name: str, tmp: Path) -> tuple[list[str], str]:
    """The `train` arguments of one faulty run, and its expected stderr line (exit 2)."""
    if name == "spec nested 100,000 levels deep":
        spec = raw_file(tmp, "deep.json", b"[" * 100_000 + b"]" * 100_000)
        return ["--spec", str(spec)], f"{spec}: not valid JSON (line 1, column 128)"
    if name in ("400-digit learning rate", "5000-digit learning rate"):
        digits = BIG if name.startswith("400") else HUGE
        spec = spec_text(tmp, ('"learning_rate": 0.1', f'"learning_rate": {digits}'))
        where = column_of(spec, digits)
        return ["--spec", str(spec)], f"{spec}: not valid JSON (line 1, column {where})"
    if name == "lone surrogate escape in dataset.name":
        spec = spec_text(tmp, ('"name": "mnist-mini"', '"name": "\\ud800"'))
        where = column_of(spec, "\\ud800") + 1  # the character after the escape
        return ["--spec", str(spec)], f"{spec}: not valid JSON (line 1, column {where})"
    if name in EXPONENTS:
        literal, stop = EXPONENTS[name]
        spec = spec_text(tmp, ('"learning_rate": 0.1', f'"learning_rate": {literal}'))
        where = column_of(spec, stop)
        return ["--spec", str(spec)], f"{spec}: not valid JSON (line 1, column {where})"
    if name == "spec file name that is not UTF-8":
        spec = tmp / os.fsdecode(b"spec-" + NOT_UTF8 + b".json")  # as a program gets the bytes
        spec.write_text(write_spec(tmp, batch_size=0).read_text())
        shown = f"{tmp}/spec-{NOT_UTF8.decode('utf-8', 'replace')}.json"  # one U+FFFD each
        return ["--spec", str(spec)], f"{shown}: batch_size: expected a positive integer, got 0"
    if name == "init path holding a NUL byte":
        spec = write_spec(tmp, init={"kind": "file", "path": "model\u0000.safetensors"})
        reason = "file name contained an unexpected NUL byte"  # Rust's text, in both
        return ["--spec", str(spec)], f"{tmp}/model\u0000.safetensors: cannot read: {reason}"
    if name == "spec bytes that are not UTF-8":
        spec = raw_file(tmp, "latin1.json", b'{"spec_version": \xff}')
        return ["--spec", str(spec)], f"{spec}: not valid JSON (line 1, column 18)"
    if name == "spec that is a directory":
        return ["--spec", str(tmp)], f"{tmp}: cannot read: Is a directory"
    if name in ("spec that never ends (/dev/zero)", "spec of 1 MiB + 1 byte of spaces"):
        spec = Path("/dev/zero")
        if "spaces" in name:  # valid JSON once the spaces are skipped: the size alone fails it
            spec = tmp / "padded.json"
            text = write_spec(tmp).read_text()
            spec.write_text(text + " " * (2**20 + 1 - len(text.encode())))
        return [
            "--spec",
            str(spec),
        ], f"{spec}: expected a spec of at most 1048576 bytes, found more"
    if name == "batch_size 2^64":
        spec = spec_text(tmp, ('"batch_size": 512', f'"batch_size": {2**64}'))
        line = "batch_size: expected a positive integer, got 1.8446744073709552e+19"
        return ["--spec", str(spec)], f"{spec}: {line}"
    if name == "batch_size -0":
        spec = spec_text(tmp, ('"batch_size": 512', '"batch_size": -0'))
        return ["--spec", str(spec)], f"{spec}: batch_size: expected a positive integer, got -0.0"
    if name == "learning rate as a string":
        spec = write_spec(tmp, optimizer={"kind": "sgd", "learning_rate": "0.1"})
        line = 'optimizer.learning_rate: expected a finite number > 0, got "0.1"'
        return ["--spec", str(spec)], f"{spec}: {line}"
    if name == "a layer of 4,000,000,000 units":
        spec = write_spec(tmp, layers=[784, 4_000_000_000, 10])
        line = "layers: expected fewer than 2^31 weights and biases in all, got [784,4000000000,10]"
        return ["--spec", str(spec)], f"{spec}: {line}"
    if name == "layers too wide for one pass over the test set":
        layers = [WIDE[0], WIDE[1] - WIDE[0] - WIDE[2] + 1, WIDE[2]]  # one unit too many
        spec = write_spec(tmp, layers=layers)
        line = (
            f"layers: expected at most {WIDE[1]} units in all for passes of {ROWS} samples "
            f"(fewer than 2^31 activations), got {json.dumps(layers, separators=(',', ':'))}"
        )
        return ["--spec", str(spec)], f"{spec}: {line}"
    gz_cases = {
        "gzip followed by trailing garbage": lambda gz: gz + b"trailing garbage",
        "gzip followed by zero padding": lambda gz: gz + bytes(16),
        "empty gzip file": lambda gz: b"",
        "truncated gzip member": lambda gz: gz[:-3],
        "gzip member with a bad CRC": bad_crc,
    }
    if name in gz_cases:
        data = gz_data(tmp, "train-labels-idx1-ubyte", gz_cases[name])
        return with_data(tmp, data), f"{data}/train-labels-idx1-ubyte.gz: not a valid gzip stream"
    if name == "IDX header announcing (2^32-1)^3 pixels":
        data = gz_data(tmp, "train-images-idx3-ubyte", huge_header)
        found = TRAIN * 784
        line = f"truncated: expected {(2**32 - 1) ** 3} bytes after the header, found {found}"
        return with_data(tmp, data), f"{data}/train-images-idx3-ubyte.gz: {line}"
    if name == "init holding one NaN weight":
        init = nan_init(tmp)
        line = f'{init}: tensor "layers.1.weight" holds a non-finite value'
        return ["--spec", str(write_spec(tmp)), "--init", str(init)], line
    bad_inits = {
        "init that is random bytes": np.random.default_rng(3).bytes(4096),
        "init announcing a 2^63-byte header": (2**63).to_bytes(8, "little") + b"{}",
    }
    if name in bad_inits:
        init = raw_file(tmp, "bad.safetensors", bad_inits[name])
        args = ["--spec", str(write_spec(tmp)), "--init", str(init)]
        return args, f"{init}: not a safetensors file"
    flags = {
        "--threads 4294967296": ("--threads", "4294967296", "an integer in [1, 1024]"),
        "--threads 1025": ("--threads", "1025", "an integer in [1, 1024]"),
        "--threads abc": ("--threads", "abc", "an integer in [1, 1024]"),
        "--max-steps 2^63": ("--max-steps", str(2**63), "an integer in [1, 2^63)"),
        "--max-steps -1": ("--max-steps", "-1", "an integer in [1, 2^63)"),
    }
    if name in flags:
        flag, value, rule = flags[name]
        line = f'{flag}: expected {rule}, got "{value}"'
        return ["--spec", str(write_spec(tmp)), flag, value], line
    if name in ("--threads that is not UTF-8", "--max-steps that is not UTF-8"):
        flag = name.split()[0]
        rule = "an integer in [1, 1024]" if flag == "--threads" else "an integer in [1, 2^63)"
        value = os.fsdecode(b"1" + NOT_UTF8)
        line = f'{flag}: expected {rule}, got "1{NOT_UTF8.decode("utf-8", "replace")}"'
        return ["--spec", str(write_spec(tmp)), flag, value], line
    if name == "--threads given twice, the last 0":
        line = '--threads: expected an integer in [1, 1024], got "0"'
        return ["--spec", str(write_spec(tmp)), "--threads", "2", "--threads", "0"], line
    if name == "metrics file on a full disk":
        line = "/dev/full: cannot write metrics file: No space left on device"
        return ["--spec", str(write_spec(tmp)), "--metrics-out", "/dev/full"], line
    if name == "model path that is a device (/dev/full)":
        args = ["--spec", str(write_spec(tmp)), "--max-steps", "1", "--save-model", "/dev/full"]
        return args, "/dev/full: cannot write model file: not a regular file"
    if name == "metrics path that is a directory":
        line = f"{tmp}: cannot open metrics file for appending: Is a directory"
        return ["--spec", str(write_spec(tmp)), "--metrics-out", str(tmp)], line
    raise AssertionError(name)


CASES = [
    "spec nested 100,000 levels deep",
    "400-digit learning rate",
    "5000-digit learning rate",
    "lone surrogate escape in dataset.name",
    "spec bytes that are not UTF-8",
    *EXPONENTS,
    "spec file name that is not UTF-8",
    "init path holding a NUL byte",
    "spec that is a directory",
    "spec that never ends (/dev/zero)",
    "spec of 1 MiB + 1 byte of spaces",
    "batch_size 2^64",
    "batch_size -0",
    "learning rate as a string",
    "a layer of 4,000,000,000 units",
    "layers too wide for one pass over the test set",
    "gzip followed by trailing garbage",
    "gzip followed by zero padding",
    "empty gzip file",
    "truncated gzip member",
    "gzip member with a bad CRC",
    "IDX header announcing (2^32-1)^3 pixels",
    "init holding one NaN weight",
    "init that is random bytes",
    "init announcing a 2^63-byte header",
    "--threads 4294967296",
    "--threads 1025",
    "--threads abc",
    "--max-steps 2^63",
    "--max-steps -1",
    "--threads given twice, the last 0",
    "--threads that is not UTF-8",
    "--max-steps that is not UTF-8",
    "metrics file on a full disk",
    "model path that is a device (/dev/full)",
    "metrics path that is a directory",
]


def earlier_files(tmp: Path, name: str) -> tuple[Path, Path]:
    """A metrics file and a model file as an earlier run of `name` left them."""
    metrics, model = tmp / f"{name}-metrics.jsonl", tmp / f"{name}-model.safetensors"
    metrics.write_text(EARLIER)
    model.write_bytes(EARLIER_MODEL)
    return metrics, model


def with_earlier(args: list[str], metrics: Path, model: Path) -> list[str]:
    """`args` plus --metrics-out and --save-model at the earlier run's files (unless given)."""
    extra = [] if "--metrics-out" in args else ["--metrics-out", str(metrics)]
    return [*args, *extra, *([] if "--save-model" in args else ["--save-model", str(model)])]


def assert_earlier_files_kept(metrics: Path, model: Path) -> list[dict]:
    """The earlier run's metrics line and model are still there; returns the metrics events."""
    text = metrics.read_text()
    assert text.startswith(EARLIER), text[:200]
    assert text.endswith("\n")
    assert model.read_bytes() == EARLIER_MODEL
    return [json.loads(line) for line in text.splitlines()]


def run_both(
    programs: dict[str, list[str]], tmp: Path, args: list[str], **popen: object
) -> dict[str, tuple[subprocess.CompletedProcess, Path, Path]]:
    """Both contenders at once on `args` (each with its own earlier files): result and files."""
    started = {}
    for name, argv in programs.items():
        metrics, model = earlier_files(tmp, name)
        command = [*argv, "train", *with_earlier(args, metrics, model)]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
        started[name] = (proc, command, metrics, model)
    results = {}
    for name, (proc, command, metrics, model) in started.items():
        out, err = proc.communicate(timeout=300)
        done = subprocess.CompletedProcess(command, proc.returncode, out.decode(), err.decode())
        results[name] = (done, metrics, model)
    return results


@pytest.mark.parametrize("name", CASES)
def test_both_contenders_reject_each_fault_with_exit_2_one_identical_line_and_keep_earlier_files(
    name: str, programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """Exit 2, stderr exactly `error: <line>`, and the earlier metrics lines and model intact."""
    args, line = case(name, tmp_path)
    for program, (proc, metrics, model) in run_both(programs, tmp_path, args).items():
        assert (proc.returncode, proc.stderr) == (2, f"error: {line}\n"), program
        assert proc.stdout == ""
        assert_earlier_files_kept(metrics, model)


def test_both_contenders_accept_a_multi_member_gzip_as_zcat_reads_it(
    programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """Two gzip members back to back are one valid stream: both train on it and save a model."""
    data = gz_data(tmp_path, "train-labels-idx1-ubyte", two_members)
    args = [*with_data(tmp_path, data), "--max-steps", "1"]
    for program, (proc, metrics, model) in run_both(programs, tmp_path, args).items():
        assert (proc.returncode, proc.stderr) == (0, ""), program
        events = [json.loads(line) for line in metrics.read_text().splitlines()]
        assert events[0] == json.loads(EARLIER)
        assert events[-1]["event"] == "end" and events[-1]["status"] == "max_steps"
        assert sorted(load_file(str(model))) == [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight",
        ]


def wait_for_event(path: Path, event: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Polls the metrics file until a line of `event` appears (fails if the process ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(json.loads(line)["event"] == event for line in path.read_text().splitlines()):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {event} event within {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("program", ["python", "rust"])
def test_a_signal_mid_training_exits_128_plus_n_with_one_line_and_whole_metrics_lines(
    program: str, sig: signal.Signals, programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """Interrupted while training: exit 130/143, one line, earlier lines kept, no end event."""
    metrics, model = earlier_files(tmp_path, program)
    spec = write_spec(tmp_path, max_epochs=1000, target_accuracy=1.0)
    args = with_earlier(["--spec", str(spec)], metrics, model)
    proc = subprocess.Popen(
        [*programs[program], "train", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wait_for_event(metrics, "data", proc)
    time.sleep(0.3)  # inside the first epoch
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err.decode()) == (
        128 + sig,
        b"",
        f"error: interrupted by {sig.name}\n",
    )
    events = assert_earlier_files_kept(metrics, model)
    assert [e["event"] for e in events[1:3]] == ["start", "data"]
    assert all(e["event"] != "end" for e in events[1:])


def test_runs_appending_to_one_metrics_file_at_once_never_interleave_lines(
    programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """Two runs of each contender on one metrics file: every line whole, every run complete."""
    metrics, _ = earlier_files(tmp_path, "shared")
    args = ["train", "--spec", str(write_spec(tmp_path)), "--max-steps", "5"]
    procs = [
        subprocess.Popen([*argv, *args, "--metrics-out", str(metrics)], stderr=subprocess.PIPE)
        for argv in (*programs.values(), *programs.values())
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    lines = metrics.read_text().splitlines(keepends=True)
    assert lines[0] == EARLIER and all(line.endswith("\n") for line in lines)
    runs: dict[str, list[str]] = {}
    for event in map(json.loads, lines[1:]):
        runs.setdefault(event["run_id"], []).append(event["event"])
    assert sorted(runs.values()) == [["start", "data", *["step"] * 5, "end"]] * 4


def test_rust_reports_a_thread_start_failure_without_the_os_error_number(
    programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """1024 threads in 1.25 GB of address space: the OS reason alone, as CONTRACT.md says.

    About one try in 40, the last thread that did start finds no address space left for the
    signal stack Rust's standard library gives every thread, and the library aborts (CONTRACT.md,
    *Failures: signals and memory*): that outcome, and only that one, is tried again, twice.
    """

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1_250_000_000, 1_250_000_000))

    args = ["train", "--spec", str(write_spec(tmp_path)), "--threads", "1024", "--max-steps", "1"]
    line = "error: cannot start 1024 compute threads: Resource temporarily unavailable\n"
    std_abort = "failed to allocate an alternative stack"
    for _ in range(3):
        proc = subprocess.run(
            [*programs["rust"], *args], capture_output=True, text=True, preexec_fn=limit_memory
        )
        if not (proc.returncode == -signal.SIGABRT and std_abort in proc.stderr):
            break
    assert (proc.returncode, proc.stderr) == (2, line)


def test_python_reports_running_out_of_memory_in_one_line(
    programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """A network within the size bounds but beyond 1 GB of address space: exit 2, one line."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1_000_000_000, 1_000_000_000))

    spec = write_spec(tmp_path, layers=[784, 200_000, 10])
    proc = subprocess.run(
        [*programs["python"], "train", "--spec", str(spec)],
        capture_output=True,
        text=True,
        preexec_fn=limit_memory,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: out of memory: Unable to allocate ")
    assert proc.stderr.count("\n") == 1


def test_both_contenders_read_a_spec_of_exactly_the_1_mib_bound(
    programs: dict[str, list[str]], tmp_path: Path
) -> None:
    spec = tmp_path / "padded.json"
    text = write_spec(tmp_path).read_text()
    spec.write_text(text + " " * (2**20 - len(text.encode())))
    assert spec.stat().st_size == 2**20
    for program, (proc, _, _) in run_both(
        programs, tmp_path, ["--spec", str(spec), "--max-steps", "1"]
    ).items():
        assert (proc.returncode, proc.stderr) == (0, ""), program


def make_destination(folder: Path, kind: str) -> Path:
    """A --save-model path in `folder` that exists and is not a regular file (or is a symlink);
    the earlier model is `folder/earlier.safetensors`."""
    earlier = folder / "earlier.safetensors"
    earlier.write_bytes(EARLIER_MODEL)
    path = folder / "model.safetensors"
    if kind == "a folder":
        path.mkdir()
        (path / "inside").write_bytes(EARLIER_MODEL)
    elif kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a symlink to the earlier model":
        path.symlink_to(earlier)
    elif kind == "a dangling symlink":
        path.symlink_to(folder / "nowhere.safetensors")
    return path


def snapshot(folder: Path) -> dict[str, tuple[str, bytes | str | None]]:
    """Every entry of `folder` (recursively): its type and its bytes or link target."""
    found: dict[str, tuple[str, bytes | str | None]] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            found[name] = ("symlink", os.readlink(path))
        elif path.is_dir():
            found[name] = ("folder", None)
        elif path.is_file():
            found[name] = ("file", path.read_bytes())
        else:
            found[name] = ("other", None)
    return found


NOT_FILES = ["a folder", "a FIFO", "a symlink to the earlier model", "a dangling symlink"]


def save_args(tmp: Path, model: Path) -> list[str]:
    return ["--spec", str(write_spec(tmp)), "--max-steps", "1", "--save-model", str(model)]


def assert_save_refused(
    argv: list[str], tmp: Path, model: Path, folder: Path, reason: str, *extra: str
) -> None:
    """One K-step run saving to `model` exits 2 with the contract's one line for `reason`,
    and leaves `folder` exactly as it was."""
    before = snapshot(folder)
    proc = subprocess.run(
        [*argv, "train", *save_args(tmp, model), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = f"error: {model}: cannot write model file: {reason}\n"
    assert (proc.returncode, proc.stderr) == (2, line), argv[0]
    assert snapshot(folder) == before, argv[0]


@pytest.mark.parametrize("kind", NOT_FILES)
def test_both_contenders_refuse_a_model_path_that_is_not_a_regular_file_and_write_nothing(
    kind: str, programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """Exit 2, one identical line, the path and everything next to it exactly as before."""
    for program, argv in programs.items():
        folder = tmp_path / program
        folder.mkdir()
        model = make_destination(folder, kind)
        assert_save_refused(argv, tmp_path, model, folder, "not a regular file")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (a disk too small for the 800 KB model), unmounted afterwards."""
    with tmpfs(tmp_path / "small-disk", "64k") as mount:
        yield mount


def test_on_a_full_disk_both_contenders_keep_the_earlier_model_whole_and_leave_no_temporary_file(
    programs: dict[str, list[str]], tmp_path: Path, small_disk: Path
) -> None:
    """No space for the new model: exit 2, one identical line, the folder as it was."""
    for program, argv in programs.items():
        model = small_disk / f"{program}-model.safetensors"
        model.write_bytes(EARLIER_MODEL)
        metrics = tmp_path / f"{program}-metrics.jsonl"  # off the small disk
        full = "No space left on device"
        assert_save_refused(argv, tmp_path, model, small_disk, full, "--metrics-out", str(metrics))
        assert json.loads(metrics.read_text().splitlines()[-1])["event"] == "end"


def test_both_contenders_replace_an_earlier_model_whole_and_leave_no_temporary_file(
    programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """A model saved over an earlier one: a readable model, the only file in its folder, with
    the permissions a plain write gives (0666 less the umask)."""
    for program, argv in programs.items():
        folder = tmp_path / program
        folder.mkdir()
        model = folder / "model.safetensors"
        model.write_bytes(EARLIER_MODEL)
        mode = model.stat().st_mode
        proc = subprocess.run([*argv, "train", *save_args(tmp_path, model)], capture_output=True)
        assert proc.returncode == 0, proc.stderr
        assert sorted(load_file(str(model))) == [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight",
        ]
        assert [p.name for p in folder.iterdir()] == ["model.safetensors"], program
        assert model.stat().st_mode == mode, program


def catches(pid: int, sig: signal.Signals) -> bool:
    """Whether process `pid` has a handler for `sig` (the SigCgt mask of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    raise AssertionError(f"no SigCgt line for process {pid}")


@pytest.mark.parametrize("delay_ms", [0, 1, 2, 5, 10, 20])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("program", ["python", "rust"])
def test_a_signal_in_the_first_20_ms_of_the_programs_own_code_exits_128_plus_n_with_one_line(
    program: str,
    sig: signal.Signals,
    delay_ms: int,
    programs: dict[str, list[str]],
    tmp_path: Path,
) -> None:
    """A signal delay_ms after the program catches SIGTERM (the first thing python_impl's code
    does, before argparse or NumPy are imported): exit 130/143, the contract's one line, no
    model file. (Earlier, in the interpreter's own start-up, no program code can answer.)"""
    model = tmp_path / "model.safetensors"
    spec = write_spec(tmp_path, max_epochs=1000, target_accuracy=1.0)  # trains for minutes
    args = ["train", "--spec", str(spec), "--save-model", str(model)]
    proc = subprocess.Popen(
        [*programs[program], *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not catches(proc.pid, signal.SIGTERM):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
    start = time.perf_counter()
    while time.perf_counter() - start < delay_ms / 1000:
        pass
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    line = f"error: interrupted by {sig.name}\n"
    assert (proc.returncode, out, err.decode()) == (128 + sig, b"", line)
    assert list(tmp_path.iterdir()) == [tmp_path / "spec.json"]


SPY = """
import runpy, signal, sys
for name in ("argparse", "numpy"):
    sys.modules.pop(name, None)
class Spy:  # reports, for each module below, whether SIGTERM was handled when it was imported
    def find_spec(self, name, path=None, target=None):
        if name in ("argparse", "numpy"):
            print(name, signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL)
sys.meta_path.insert(0, Spy())
sys.argv = ["python_impl", "train", "--spec", sys.argv[1], "--max-steps", "1"]
runpy.run_module("python_impl", run_name="__main__")
"""


def test_python_handles_signals_before_it_imports_argparse_or_numpy(tmp_path: Path) -> None:
    """The handlers come first in python_impl/__main__.py: the heavy imports are covered."""
    proc = subprocess.run(
        [sys.executable, "-c", SPY, str(write_spec(tmp_path))], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["argparse True", "numpy True"]
