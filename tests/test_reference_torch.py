"""The optional PyTorch backend agrees with the NumPy reference (skipped without torch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from python_impl.__main__ import main
from python_impl.data import write_images, write_labels
from python_impl.modelfile import load_model

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "harness" / "preparation" / "data" / "mnist-mini"


def spec_file(tmp_path: Path, **changes) -> Path:
    """The mnist-mini spec with absolute data path and the given top-level changes."""
    doc = json.loads((ROOT / "harness" / "preparation" / "specs" / "mnist-mini.json").read_text())
    doc["dataset"]["dir"] = str(MINI)
    doc.update(changes)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(doc))
    return path


def train_both(tmp_path: Path, spec: Path, *args: str) -> tuple[list, list]:
    """Run numpy then torch with the same flags; returns both saved models."""
    models = []
    for backend in ("numpy", "torch"):
        out = tmp_path / f"{backend}.safetensors"
        argv = ["--backend", backend, "train", "--spec", str(spec), "--save-model", str(out)]
        assert main([*argv, *args]) == 0
        layers = json.loads(spec.read_text())["layers"]
        models.append(load_model(out, layers))
    return models[0], models[1]


def assert_close(a: list, b: list, atol: float) -> None:
    for (wa, ba), (wb, bb) in zip(a, b, strict=True):
        np.testing.assert_allclose(wa, wb, atol=atol)
        np.testing.assert_allclose(ba, bb, atol=atol)


def test_torch_matches_numpy_after_k_batched_steps_from_the_same_init(tmp_path):
    numpy_model, torch_model = train_both(tmp_path, spec_file(tmp_path), "--max-steps", "12")
    assert_close(numpy_model, torch_model, atol=1e-5)


def test_torch_matches_numpy_with_leaky_relu_and_sigmoid_output(tmp_path):
    spec = spec_file(
        tmp_path,
        hidden_activation={"kind": "leaky_relu", "alpha": 0.2},
        output="sigmoid_mse",
        layers=[784, 32, 10],
        batch_size=100,
    )
    numpy_model, torch_model = train_both(tmp_path, spec, "--max-steps", "5")
    assert_close(numpy_model, torch_model, atol=1e-5)


def test_torch_per_sample_matches_numpy_per_sample(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(3)
    for prefix, n in (("train", 24), ("t10k", 8)):
        write_images(data / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 3, 3)))
        write_labels(data / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    spec = spec_file(tmp_path, layers=[9, 6, 10], batch_size=8)
    doc = json.loads(spec.read_text())
    doc["dataset"]["dir"] = str(data)
    spec.write_text(json.dumps(doc))
    numpy_model, torch_model = train_both(
        tmp_path, spec, "--algorithm", "per-sample", "--max-steps", "3"
    )
    assert_close(numpy_model, torch_model, atol=1e-5)


def test_torch_writes_its_own_implementation_name_and_version(tmp_path):
    metrics = tmp_path / "m.jsonl"
    argv = ["--backend", "torch", "train", "--spec", str(spec_file(tmp_path))]
    assert main([*argv, "--max-steps", "1", "--metrics-out", str(metrics)]) == 0
    start = json.loads(metrics.read_text().splitlines()[0])
    assert start["implementation"] == "python-torch"
    assert start["torch"] == torch.__version__ and start["device"] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_asking_for_cuda_without_a_gpu_is_bad_input(tmp_path, capsys):
    argv = ["--backend", "torch", "--device", "cuda", "train", "--spec", str(spec_file(tmp_path))]
    assert main(argv) == 2
    assert capsys.readouterr().err == "error: --device cuda: torch reports no usable CUDA device\n"
