"""Both contenders, run on the same bad inputs, exit with the same status and the same line.

CONTRACT.md fixes the wording; this test is what keeps the NumPy reference and the Rust binary
agreeing on it (and on the exit codes) as either one changes.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "harness" / "preparation" / "data" / "mnist-mini"
DEFAULT_SPEC = json.loads(
    (ROOT / "harness" / "preparation" / "specs" / "mnist-mini.json").read_text()
)


@pytest.fixture(scope="module")
def programs() -> dict[str, list[str]]:
    """The two contender command lines (the Rust binary built)."""
    return contender_commands()


def contender_commands() -> dict[str, list[str]]:
    """The two contender command lines; builds the Rust binary (cargo caches the build)."""
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed")
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "--quiet"],
        cwd=ROOT / "rust_impl",
        check=True,
    )
    return {
        "python": [sys.executable, "-m", "python_impl"],
        "rust": [str(ROOT / "rust_impl" / "target" / "release" / "mlp")],
    }


def write_spec(tmp: Path, **changes: object) -> Path:
    """The default spec with top-level changes, data pointing at the embedded mnist-mini."""
    spec = {**DEFAULT_SPEC, "dataset": {"name": "mnist-mini", "dir": str(MINI)}, **changes}
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def broken_data(tmp: Path, name: str, edit: Callable[[bytes], bytes]) -> Path:
    """A copy of mnist-mini whose file `name` (stored uncompressed) went through `edit`."""
    data = tmp / "data"
    shutil.copytree(MINI, data)
    raw = gzip.decompress((data / f"{name}.gz").read_bytes())
    (data / f"{name}.gz").unlink()
    (data / name).write_bytes(edit(raw))
    return data


def init_file(tmp: Path, drop: str | None = None, shape0: tuple[int, int] = (256, 784)) -> Path:
    """A safetensors initial model, optionally missing one tensor or with a wrong first shape."""
    tensors = {
        "layers.0.weight": np.zeros(shape0, np.float32),
        "layers.0.bias": np.zeros(256, np.float32),
        "layers.1.weight": np.zeros((10, 256), np.float32),
        "layers.1.bias": np.zeros(10, np.float32),
    }
    tensors.pop(drop or "", None)
    path = tmp / "init.safetensors"
    save_file(tensors, str(path))
    return path


def case_args(case: str, tmp: Path) -> list[str]:
    """The `train` arguments that provoke one bad-input case."""
    if case == "missing data file":
        (tmp / "empty").mkdir()
        return ["--spec", str(write_spec(tmp, dataset={"name": "x", "dir": str(tmp / "empty")}))]
    if case == "wrong magic":
        data = broken_data(tmp, "train-images-idx3-ubyte", lambda b: b"\x00\x00\x08\x01" + b[4:])
        return ["--spec", str(write_spec(tmp, dataset={"name": "x", "dir": str(data)}))]
    if case == "truncated image file":
        data = broken_data(tmp, "train-images-idx3-ubyte", lambda b: b[:100_000])
        return ["--spec", str(write_spec(tmp, dataset={"name": "x", "dir": str(data)}))]
    if case == "label and image counts differ":
        data = broken_data(
            tmp, "train-labels-idx1-ubyte", lambda b: b[:4] + (4999).to_bytes(4, "big") + b[8:-1]
        )
        return ["--spec", str(write_spec(tmp, dataset={"name": "x", "dir": str(data)}))]
    if case == "unknown key at the top":
        return ["--spec", str(write_spec(tmp, momentum=0.9))]
    if case == "unknown key in optimizer":
        opt = {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9}
        return ["--spec", str(write_spec(tmp, optimizer=opt))]
    if case == "zero learning rate":
        return ["--spec", str(write_spec(tmp, optimizer={"kind": "sgd", "learning_rate": 0}))]
    if case == "negative learning rate":
        return ["--spec", str(write_spec(tmp, optimizer={"kind": "sgd", "learning_rate": -0.1}))]
    if case == "zero batch size":
        return ["--spec", str(write_spec(tmp, batch_size=0))]
    if case == "first layer not 784":
        return ["--spec", str(write_spec(tmp, layers=[700, 256, 10]))]
    if case == "init missing a tensor":
        return ["--spec", str(write_spec(tmp)), "--init", str(init_file(tmp, "layers.1.bias"))]
    if case == "init with a wrong shape":
        return ["--spec", str(write_spec(tmp)), "--init", str(init_file(tmp, shape0=(256, 700)))]
    if case == "unreadable metrics path":
        bad = tmp / "no-such-dir" / "m.jsonl"
        return ["--spec", str(write_spec(tmp)), "--metrics-out", str(bad)]
    if case == "missing spec":
        return ["--spec", str(tmp / "nope.json")]
    if case == "spec that is not JSON":
        (tmp / "spec.json").write_text('{"spec_version": 1,\n  oops}')
        return ["--spec", str(tmp / "spec.json")]
    raise AssertionError(case)


CASES = [
    "missing data file",
    "wrong magic",
    "truncated image file",
    "label and image counts differ",
    "unknown key at the top",
    "unknown key in optimizer",
    "zero learning rate",
    "negative learning rate",
    "zero batch size",
    "first layer not 784",
    "init missing a tensor",
    "init with a wrong shape",
    "unreadable metrics path",
    "missing spec",
    "spec that is not JSON",
]


@pytest.mark.parametrize("case", CASES)
def test_both_contenders_reject_bad_input_with_the_same_line_and_exit_2(
    case: str, programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """Each bad input: exit 2, exactly one stderr line starting `error: `, identical in both."""
    args = case_args(case, tmp_path)
    results = {
        name: subprocess.run([*argv, "train", *args], capture_output=True, text=True, timeout=120)
        for name, argv in programs.items()
    }
    for name, proc in results.items():
        assert proc.returncode == 2, f"{name}: exit {proc.returncode}, stderr {proc.stderr!r}"
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{name}: {proc.stderr!r}"
    assert results["python"].stderr == results["rust"].stderr


def test_both_contenders_report_divergence_alike_with_exit_3(
    programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """Learning rate 1e6 from the same initial model: both exit 3 naming the same step."""
    params = {"layers.0.weight": np.random.default_rng(1).standard_normal((256, 784)) * 0.05}
    tensors = {
        "layers.0.weight": params["layers.0.weight"].astype(np.float32),
        "layers.0.bias": np.zeros(256, np.float32),
        "layers.1.weight": np.random.default_rng(2).standard_normal((10, 256)).astype(np.float32),
        "layers.1.bias": np.zeros(10, np.float32),
    }
    init = tmp_path / "init.safetensors"
    save_file(tensors, str(init))
    spec = write_spec(tmp_path, optimizer={"kind": "sgd", "learning_rate": 1e6})
    results = {
        name: subprocess.run(
            [*argv, "train", "--spec", str(spec), "--init", str(init)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        for name, argv in programs.items()
    }
    assert [p.returncode for p in results.values()] == [3, 3], results
    assert results["python"].stderr == results["rust"].stderr
    assert results["rust"].stderr.startswith("error: training diverged: ")


# Texts where Python's own JSON parser and serde_json differ (positions of escape errors, lone
# surrogates, nesting, numbers beyond float64 or 64 bits): python_impl.jsonread must agree.
JSON_TEXTS = [
    r'"\ud800"',
    r'"\ud800x"',
    r'"\ud800\n"',
    r'"\ud800\u0041"',
    r'"\udc00"',
    r'"\ud800\udc00"',
    r'"a\\ud800"',
    r'{"k": "\ud83d\ude00", "x": "\udfff"}',
    r'"\ud800',
    r'"\ud800\uZZZZ"',
    r'"\uZZZZ"',
    r'"\u12"',
    r'["\u12"    ]',
    r'["\x", 1]',
    '["a\u0001\\ud800"]',
    '[\n  "\\ud800"\n]',
    r'{"a": "é\ud800"}',
    "[" * 127 + "]" * 127,
    "[" * 128 + "]" * 128,
    '{"a":' * 130,
    "[1, 2 3" + "[" * 200,
    r'["\ud800", 1e400]',
    "[1e400, 2]",
    "[" + "9" * 400 + "]",
    "[-0, 18446744073709551615, 18446744073709551616, -9223372036854775809, 1.5e-7]",
    "[2.2250738585072011e-308, 9007199254740993.0, 123456789.123456789e-20]",
]


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_both_contenders_read_tricky_json_alike(
    text: str, programs: dict[str, list[str]], tmp_path: Path
) -> None:
    """The same error position, or the same values (compared through the "not an object" or the
    batch_size line, which quotes the parsed value as each contender prints it)."""
    from python_impl.errors import InputError
    from python_impl.spec import load_spec

    spec = tmp_path / "spec.json"
    if text.startswith("["):  # a list goes into batch_size, so that its values are echoed back
        doc = json.dumps({**DEFAULT_SPEC, "batch_size": 0})
        text = doc.replace('"batch_size": 0', f'"batch_size": {text}')
    spec.write_text(text)
    rust = subprocess.run([*programs["rust"], "train", "--spec", str(spec)], capture_output=True)
    with pytest.raises(InputError) as python:
        load_spec(spec)
    assert rust.stderr.decode() == f"error: {python.value}\n"
