"""The NumPy reference's CLI: CONTRACT.md's error lines, exit statuses and metrics stream."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from python_impl.__main__ import main
from python_impl.data import load_dataset, write_images, write_labels
from python_impl.model import BatchedTrainer, batches, he_normal
from python_impl.modelfile import load_model, save_model

ROOT = Path(__file__).resolve().parent.parent
MINI_SPEC = ROOT / "harness" / "preparation" / "specs" / "mnist-mini.json"
TOP_KEYS = (
    "spec_version, dataset, layers, hidden_activation, output, init, optimizer, batch_size, "
    "max_epochs, target_accuracy, dtype"
)


def make_data(directory: Path, side: int = 2, n_train: int = 40, n_test: int = 20) -> Path:
    """Four gzipped IDX files of random side x side images with random labels."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_images(
            directory / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, side, side))
        )
        write_labels(directory / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return directory


def base_spec(layers: list[int] | None = None) -> dict:
    return {
        "spec_version": 1,
        "dataset": {"name": "tiny", "dir": "data"},
        "layers": layers or [4, 8, 10],
        "hidden_activation": {"kind": "relu"},
        "output": "softmax_cross_entropy",
        "init": {"kind": "he_normal", "seed": 1},
        "optimizer": {"kind": "sgd", "learning_rate": 0.1},
        "batch_size": 16,
        "max_epochs": 2,
        "target_accuracy": 0.99,
        "dtype": "f32",
    }


def write_spec(path: Path, spec: dict | str) -> Path:
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A spec file (tiny 2x2 data in ./data, 4-8-10 network); returns the spec's path."""
    make_data(tmp_path / "data")
    return write_spec(tmp_path / "spec.json", base_spec())


def run_main(capsys, *args: str) -> tuple[int, str]:
    code = main(["train", *args])
    return code, capsys.readouterr().err


def expect_error(capsys, line: str, *args: str) -> None:
    """The run exits 2 with exactly this one stderr line."""
    code, err = run_main(capsys, *args)
    assert (code, err) == (2, f"error: {line}\n")


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---- spec validation -------------------------------------------------------------------


def test_a_missing_spec_file_is_reported_with_the_os_reason(capsys, tmp_path):
    spec = tmp_path / "nope.json"
    expect_error(capsys, f"{spec}: cannot read: No such file or directory", "--spec", str(spec))


def test_a_spec_that_is_not_json_gives_line_and_column(capsys, tmp_path):
    spec = write_spec(tmp_path / "s.json", '{\n  "spec_version": 1,\n  oops\n}')
    expect_error(capsys, f"{spec}: not valid JSON (line 3, column 3)", "--spec", str(spec))


def test_a_spec_that_is_a_list_is_rejected(capsys, tmp_path):
    spec = write_spec(tmp_path / "s.json", "[1, 2]")
    expect_error(capsys, f"{spec}: expected a JSON object at the top level", "--spec", str(spec))


def test_an_unknown_top_level_key_is_named_with_the_allowed_keys(capsys, tmp_path):
    spec = write_spec(tmp_path / "s.json", {**base_spec(), "momentum": 0.9, "zzz": 1})
    line = f'{spec}: unknown key "momentum" in the spec (allowed: {TOP_KEYS})'
    expect_error(capsys, line, "--spec", str(spec))


def test_an_unknown_key_inside_an_object_names_the_object(capsys, tmp_path):
    doc = base_spec()
    doc["optimizer"]["momentum"] = 0.9
    spec = write_spec(tmp_path / "s.json", doc)
    line = f'{spec}: unknown key "momentum" in optimizer (allowed: kind, learning_rate)'
    expect_error(capsys, line, "--spec", str(spec))


def test_missing_keys_are_reported_in_canonical_order(capsys, tmp_path):
    doc = base_spec()
    del doc["dtype"], doc["layers"]
    spec = write_spec(tmp_path / "s.json", doc)
    expect_error(capsys, f'{spec}: missing key "layers" in the spec', "--spec", str(spec))


BAD_VALUES = [
    ({"spec_version": 2}, "spec_version: expected 1, got 2"),
    ({"dataset": {"name": "", "dir": "d"}}, 'dataset.name: expected a non-empty string, got ""'),
    ({"dataset": []}, "dataset: expected an object, got []"),
    ({"layers": [4]}, "layers: expected a list of at least 2 positive integers, got [4]"),
    ({"layers": [4, 0, 10]}, "layers[1]: expected a positive integer, got 0"),
    ({"layers": [4, 8.0, 10]}, "layers[1]: expected a positive integer, got 8.0"),
    ({"layers": [4, 8, 5]}, "layers[2]: expected 10 (one output per digit class), got 5"),
    (
        {"hidden_activation": {"kind": "tanh"}},
        'hidden_activation.kind: expected "relu" or "leaky_relu", got "tanh"',
    ),
    (
        {"hidden_activation": {"kind": "leaky_relu", "alpha": 1}},
        "hidden_activation.alpha: expected a number in [0, 1), got 1",
    ),
    ({"output": "mse"}, 'output: expected "softmax_cross_entropy" or "sigmoid_mse", got "mse"'),
    (
        {"init": {"kind": "he_normal", "seed": -1}},
        "init.seed: expected an integer in [0, 2^63), got -1",
    ),
    (
        {"init": {"kind": "he_normal", "seed": 2**63}},
        f"init.seed: expected an integer in [0, 2^63), got {2**63}",
    ),
    ({"init": {"kind": "file", "path": ""}}, 'init.path: expected a non-empty string, got ""'),
    (
        {"optimizer": {"kind": "adam", "learning_rate": 0.1}},
        'optimizer.kind: expected "sgd", got "adam"',
    ),
    (
        {"optimizer": {"kind": "sgd", "learning_rate": 0}},
        "optimizer.learning_rate: expected a finite number > 0, got 0",
    ),
    (
        {"optimizer": {"kind": "sgd", "learning_rate": -0.1}},
        "optimizer.learning_rate: expected a finite number > 0, got -0.1",
    ),
    (
        {"optimizer": {"kind": "sgd", "learning_rate": "0.1"}},
        'optimizer.learning_rate: expected a finite number > 0, got "0.1"',
    ),
    ({"batch_size": 0}, "batch_size: expected a positive integer, got 0"),
    ({"batch_size": 512.0}, "batch_size: expected a positive integer, got 512.0"),
    ({"batch_size": True}, "batch_size: expected a positive integer, got true"),
    ({"max_epochs": -3}, "max_epochs: expected a positive integer, got -3"),
    ({"target_accuracy": 0}, "target_accuracy: expected a number in (0, 1], got 0"),
    ({"target_accuracy": 1.5}, "target_accuracy: expected a number in (0, 1], got 1.5"),
    ({"dtype": "f64"}, 'dtype: expected "f32", got "f64"'),
]


@pytest.mark.parametrize(("change", "problem"), BAD_VALUES, ids=[p for _, p in BAD_VALUES])
def test_each_out_of_range_value_gets_the_contract_line(capsys, tmp_path, change, problem):
    spec = write_spec(tmp_path / "s.json", {**base_spec(), **change})
    expect_error(capsys, f"{spec}: {problem}", "--spec", str(spec))


def test_a_key_of_another_init_kind_is_unknown(capsys, tmp_path):
    spec = write_spec(tmp_path / "s.json", {**base_spec(), "init": {"kind": "file", "seed": 1}})
    line = f'{spec}: unknown key "seed" in init (allowed: kind, path)'
    expect_error(capsys, line, "--spec", str(spec))


def test_nan_in_a_spec_is_not_valid_json(capsys, tmp_path):
    text = json.dumps(base_spec(), indent=1).replace('"learning_rate": 0.1', '"learning_rate": NaN')
    spec = write_spec(tmp_path / "s.json", text)
    code, err = run_main(capsys, "--spec", str(spec))
    assert code == 2
    assert re.fullmatch(
        rf"error: {re.escape(str(spec))}: not valid JSON \(line \d+, column 20\)\n", err
    )


# ---- data files ------------------------------------------------------------------------


def test_a_missing_data_file_names_the_file_and_its_gz_twin(capsys, tiny):
    (tiny.parent / "data" / "train-labels-idx1-ubyte.gz").unlink()
    raw = os.path.join(str(tiny.parent), "data", "train-labels-idx1-ubyte")
    line = (
        f"{raw}: not found (nor train-labels-idx1-ubyte.gz); "
        "expected the four MNIST IDX files in dataset.dir"
    )
    expect_error(capsys, line, "--spec", str(tiny))


def test_a_wrong_magic_number_is_shown_in_hex(capsys, tiny):
    images = tiny.parent / "data" / "t10k-images-idx3-ubyte.gz"
    write_labels(images, np.zeros(40))  # long enough for an image header
    line = f"{images}: bad magic number 0x00000801, expected 0x00000803 (IDX images)"
    expect_error(capsys, line, "--spec", str(tiny))


def test_a_truncated_image_file_says_how_many_bytes_are_missing(capsys, tiny):
    images = tiny.parent / "data" / "train-images-idx3-ubyte"
    write_images(images, np.zeros((40, 2, 2)))  # the raw file wins over the .gz
    images.write_bytes(images.read_bytes()[:-5])
    line = f"{images}: truncated: expected 160 bytes after the header, found 155"
    expect_error(capsys, line, "--spec", str(tiny))


def test_a_file_shorter_than_its_header_is_truncated(capsys, tiny):
    labels = tiny.parent / "data" / "train-labels-idx1-ubyte"
    labels.write_bytes(b"\x00\x00\x08")
    line = f"{labels}: truncated: expected a 8-byte IDX header, found 3 bytes"
    expect_error(capsys, line, "--spec", str(tiny))


def test_label_and_image_counts_that_differ_are_reported(capsys, tiny):
    data = tiny.parent / "data"
    write_labels(data / "train-labels-idx1-ubyte.gz", np.zeros(39))
    line = (
        f"{data / 'train-labels-idx1-ubyte.gz'}: 39 labels but "
        f"{data / 'train-images-idx3-ubyte.gz'} has 40 images"
    )
    expect_error(capsys, line, "--spec", str(tiny))


def test_a_label_above_9_is_reported_with_its_index(capsys, tiny):
    labels = tiny.parent / "data" / "t10k-labels-idx1-ubyte.gz"
    write_labels(labels, [1, 2, 12, 3, *[0] * 16])  # 20 labels, as many as images
    expect_error(capsys, f"{labels}: label 12 at index 2 is not a digit 0-9", "--spec", str(tiny))


def test_a_broken_gzip_stream_is_reported(capsys, tiny):
    labels = tiny.parent / "data" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-6])
    expect_error(capsys, f"{labels}: not a valid gzip stream", "--spec", str(tiny))


def test_a_first_layer_that_does_not_fit_28x28_images_is_rejected(capsys, tmp_path):
    make_data(tmp_path / "data", side=28, n_train=3, n_test=2)
    spec = write_spec(tmp_path / "s.json", base_spec([700, 8, 10]))
    line = f"{spec}: layers[0]: expected 784 (the 28x28 pixels of each image), got 700"
    expect_error(capsys, line, "--spec", str(spec))


# ---- init files, metrics and model paths -----------------------------------------------


def test_an_init_file_missing_a_tensor_names_it(capsys, tiny, tmp_path):
    init = tmp_path / "init.safetensors"
    (w0, b0), (w1, _) = he_normal([4, 8, 10], 0)
    safetensors.numpy.save_file(
        {"layers.0.weight": w0, "layers.0.bias": b0, "layers.1.weight": w1}, init
    )
    line = f'{init}: missing tensor "layers.1.bias"'
    expect_error(capsys, line, "--spec", str(tiny), "--init", str(init))


def test_an_init_tensor_of_the_wrong_shape_is_reported(capsys, tiny, tmp_path):
    init = tmp_path / "init.safetensors"
    save_model(init, he_normal([5, 8, 10], 0))
    line = f'{init}: tensor "layers.0.weight" has shape [8, 5], expected [8, 4]'
    expect_error(capsys, line, "--spec", str(tiny), "--init", str(init))


def test_an_init_tensor_in_float64_is_reported(capsys, tiny, tmp_path):
    init = tmp_path / "init.safetensors"
    tensors = {
        f"layers.{i}.{k}": t.astype(np.float64)
        for i, (w, b) in enumerate(he_normal([4, 8, 10], 0))
        for k, t in (("weight", w), ("bias", b))
    }
    safetensors.numpy.save_file(tensors, init)
    line = f'{init}: tensor "layers.0.weight" has dtype F64, expected F32'
    expect_error(capsys, line, "--spec", str(tiny), "--init", str(init))


def test_an_init_file_that_is_not_safetensors_is_reported(capsys, tiny, tmp_path):
    init = tmp_path / "init.safetensors"
    init.write_text("hello")
    expect_error(
        capsys, f"{init}: not a safetensors file", "--spec", str(tiny), "--init", str(init)
    )


def test_a_missing_init_file_named_in_the_spec_is_resolved_next_to_it(capsys, tmp_path):
    make_data(tmp_path / "data")
    spec = write_spec(
        tmp_path / "s.json", {**base_spec(), "init": {"kind": "file", "path": "i.st"}}
    )
    line = f"{tmp_path / 'i.st'}: cannot read: No such file or directory"
    expect_error(capsys, line, "--spec", str(spec))


def test_an_unwritable_metrics_path_fails_before_loading_data(capsys, tmp_path):
    spec = write_spec(tmp_path / "s.json", base_spec())  # no data folder at all
    metrics = tmp_path / "no-such-dir" / "m.jsonl"
    line = f"{metrics}: cannot open metrics file for appending: No such file or directory"
    expect_error(capsys, line, "--spec", str(spec), "--metrics-out", str(metrics))


def test_an_unwritable_model_path_is_reported(capsys, tiny, tmp_path):
    model = tmp_path / "no-such-dir" / "m.safetensors"
    line = f"{model}: cannot write model file: No such file or directory"
    expect_error(capsys, line, "--spec", str(tiny), "--save-model", str(model))


# ---- training runs ---------------------------------------------------------------------


def test_mnist_mini_reaches_its_target_with_a_complete_metrics_stream(capsys, tmp_path):
    metrics = tmp_path / "m.jsonl"
    code, err = run_main(capsys, "--spec", str(MINI_SPEC), "--metrics-out", str(metrics))
    assert (code, err) == (0, "")
    evs = events(metrics)
    kinds = [e["event"] for e in evs]
    assert kinds[:2] == ["start", "data"] and kinds[-1] == "end"
    assert set(kinds[2:-1]) == {"epoch"}
    start, data, end = evs[0], evs[1], evs[-1]
    assert start["implementation"] == "python-numpy" and start["algorithm"] == "batched"
    assert start["spec_sha256"] == hashlib.sha256(MINI_SPEC.read_bytes()).hexdigest()
    assert start["init"] == "he_normal:42" and start["blas"]["num_threads"] == 1
    assert (data["train_samples"], data["test_samples"]) == (5000, 10000)
    assert len({e["run_id"] for e in evs}) == 1
    epochs = evs[2:-1]
    assert [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1))
    assert [e["steps"] for e in epochs] == [10 * e["epoch"] for e in epochs]  # 5000 / 512
    assert end["status"] == "reached_target" and end["epochs"] == len(epochs)
    assert end["test_correct"] == epochs[-1]["test_correct"] > 9000
    assert all(e["test_correct"] <= 9000 for e in epochs[:-1])
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert end["train_seconds"] == pytest.approx(sum(e["train_seconds"] for e in epochs))


def test_max_epochs_below_target_exits_1(capsys, tmp_path):
    make_data(tmp_path / "data")
    spec = write_spec(tmp_path / "s.json", {**base_spec(), "target_accuracy": 1, "max_epochs": 3})
    metrics = tmp_path / "m.jsonl"
    assert run_main(capsys, "--spec", str(spec), "--metrics-out", str(metrics)) == (1, "")
    end = events(metrics)[-1]
    assert (end["status"], end["epochs"], end["steps"]) == ("max_epochs", 3, 9)


def test_max_steps_stops_mid_epoch_and_saves_what_k_steps_give(capsys, tiny, tmp_path):
    metrics, model = tmp_path / "m.jsonl", tmp_path / "model.safetensors"
    args = ("--spec", str(tiny), "--metrics-out", str(metrics), "--save-model", str(model))
    assert run_main(capsys, *args, "--max-steps", "4") == (0, "")
    evs = events(metrics)
    kinds = ["start", "data", "step", "step", "step", "epoch", "step", "end"]  # 3 steps/epoch
    assert [e["event"] for e in evs] == kinds
    assert [e["step"] for e in evs if e["event"] == "step"] == [1, 2, 3, 4]
    end = evs[-1]
    assert (end["status"], end["epochs"], end["steps"]) == ("max_steps", 1, 4)
    data = load_dataset(tiny.parent / "data")
    params = he_normal([4, 8, 10], 1)
    trainer = BatchedTrainer(params, "relu", "softmax_cross_entropy", 0.1, 16)
    for s in [*batches(40, 16), slice(0, 16)]:  # epoch 1, then the first batch of epoch 2
        trainer.step(data.train_x[s], data.train_y[s])
    for (w, b), (w2, b2) in zip(load_model(model, [4, 8, 10]), params, strict=True):
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)


def diverging_spec(tmp_path: Path) -> Path:
    """mnist-mini with learning rate 1e6 (on random tiny data ReLUs die instead)."""
    doc = json.loads(MINI_SPEC.read_text())
    doc["dataset"]["dir"] = str(ROOT / "harness" / "preparation" / "data" / "mnist-mini")
    doc["optimizer"]["learning_rate"] = 1e6
    return write_spec(tmp_path / "s.json", doc)


def test_a_huge_learning_rate_diverges_with_exit_3(capsys, tmp_path):
    spec = diverging_spec(tmp_path)
    metrics = tmp_path / "m.jsonl"
    code, err = run_main(capsys, "--spec", str(spec), "--metrics-out", str(metrics))
    assert code == 3
    assert re.fullmatch(
        r"error: training diverged: loss is not finite at epoch \d+, step \d+\n", err
    )
    end = events(metrics)[-1]
    assert end["status"] == "diverged" and end["test_accuracy"] is None
    assert err.endswith(f"step {end['steps'] + 1}\n")  # the step that was not applied


def test_metrics_are_appended_with_a_new_run_id_each_run(capsys, tiny, tmp_path):
    metrics = tmp_path / "m.jsonl"
    for _ in range(2):
        run_main(capsys, "--spec", str(tiny), "--metrics-out", str(metrics), "--max-steps", "1")
    starts = [e for e in events(metrics) if e["event"] == "start"]
    assert len(starts) == 2 and starts[0]["run_id"] != starts[1]["run_id"]


def test_the_init_flag_starts_from_the_given_weights(capsys, tiny, tmp_path):
    init, metrics = tmp_path / "init.safetensors", tmp_path / "m.jsonl"
    save_model(init, he_normal([4, 8, 10], 99))
    out = tmp_path / "out.safetensors"
    args = ["--spec", str(tiny), "--init", str(init), "--metrics-out", str(metrics)]
    assert run_main(capsys, *args, "--save-model", str(out), "--max-steps", "1") == (0, "")
    assert events(metrics)[0]["init"] == str(init)
    data = load_dataset(tiny.parent / "data")
    params = he_normal([4, 8, 10], 99)
    BatchedTrainer(params, "relu", "softmax_cross_entropy", 0.1, 16).step(
        data.train_x[:16], data.train_y[:16]
    )
    np.testing.assert_array_equal(load_model(out, [4, 8, 10])[0][0], params[0][0])


def test_per_sample_training_runs_through_the_cli(capsys, tiny, tmp_path):
    metrics = tmp_path / "m.jsonl"
    args = ("--spec", str(tiny), "--algorithm", "per-sample", "--metrics-out", str(metrics))
    assert run_main(capsys, *args)[0] in (0, 1)
    assert events(metrics)[0]["algorithm"] == "per-sample"
    assert events(metrics)[-1]["steps"] == 6  # 2 epochs of 3 batches (16, 16, 8)


def test_the_torch_backend_without_torch_says_how_to_install_it(capsys, tiny, monkeypatch):
    import python_impl.torch_backend as tb

    monkeypatch.setattr(tb, "torch", None)
    code = main(["--backend", "torch", "train", "--spec", str(tiny)])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: {tb.NOT_INSTALLED}\n" and "pip install '.[torch]'" in err


# ---- real processes --------------------------------------------------------------------


def run_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "python_impl", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_a_real_process_exits_2_with_one_stderr_line_for_bad_input(tmp_path):
    spec = tmp_path / "missing.json"
    p = run_process("train", "--spec", str(spec))
    assert (p.returncode, p.stdout, p.stderr) == (
        2,
        "",
        f"error: {spec}: cannot read: No such file or directory\n",
    )


def test_a_real_process_exits_3_when_training_diverges(tmp_path):
    spec = diverging_spec(tmp_path)
    p = run_process("train", "--spec", str(spec))
    assert p.returncode == 3 and p.stderr.startswith("error: training diverged")
    assert p.stderr.count("\n") == 1  # no NumPy warnings


def test_version_comes_from_the_parser_and_a_bad_thread_count_from_the_contract():
    p = run_process("--version")
    assert (p.returncode, p.stdout) == (0, "python_impl 0.1.0\n")
    p = run_process("train", "--spec", "x.json", "--threads", "0")
    line = 'error: --threads: expected an integer in [1, 1024], got "0"\n'
    assert (p.returncode, p.stderr) == (2, line)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-1e-5, "-0.00001"),
        (1.5e-5, "0.000015"),
        (-1e-7, "-1e-7"),
        (2.5e-300, "2.5e-300"),
        (0.0001, "0.0001"),
        (1e16, "1e+16"),
        (100.0, "100.0"),
        ([256, {"a": "é"}], '[256,{"a":"é"}]'),
    ],
)
def test_quoted_values_are_written_as_serde_json_writes_them(value, text):
    from python_impl.spec import compact

    assert compact(value) == text
