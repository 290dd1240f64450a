"""Model files: safetensors round trip, names and layout of a PyTorch nn.Linear stack."""

from __future__ import annotations

import numpy as np
import pytest
import safetensors
import safetensors.numpy

from python_impl.errors import InputError
from python_impl.model import he_normal
from python_impl.modelfile import load_model, save_model


def test_a_saved_model_loads_back_bit_for_bit(tmp_path):
    params = he_normal([784, 256, 10], seed=11)
    params[1] = (params[1][0], np.linspace(-1, 1, 10, dtype=np.float32))
    path = tmp_path / "m.safetensors"
    save_model(path, params, {"implementation": "python-numpy"})
    loaded = load_model(path, [784, 256, 10])
    for (w, b), (w2, b2) in zip(params, loaded, strict=True):
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)
        assert w2.flags.writeable and w2.dtype == np.float32


def test_saved_tensors_are_named_and_shaped_like_an_nn_linear_stack(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, he_normal([6, 5, 4, 10], seed=0), {"status": "max_steps"})
    with safetensors.safe_open(path, framework="numpy") as f:
        shapes = {name: f.get_slice(name).get_shape() for name in f.keys()}  # noqa: SIM118
        dtypes = {f.get_slice(name).get_dtype() for name in f.keys()}  # noqa: SIM118
        assert f.metadata() == {"status": "max_steps"}
    assert shapes == {
        "layers.0.weight": [5, 6],
        "layers.0.bias": [5],
        "layers.1.weight": [4, 5],
        "layers.1.bias": [4],
        "layers.2.weight": [10, 4],
        "layers.2.bias": [10],
    }
    assert dtypes == {"F32"}


def test_a_file_written_by_another_safetensors_writer_loads(tmp_path):
    path = tmp_path / "m.safetensors"
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([0.5, -0.5], np.float32)
    safetensors.numpy.save_file({"layers.0.bias": b, "layers.0.weight": w, "extra": b}, path)
    ((w2, b2),) = load_model(path, [3, 2])
    np.testing.assert_array_equal(w2, w)
    np.testing.assert_array_equal(b2, b)


def test_a_bias_of_the_wrong_shape_is_reported_as_a_one_dimensional_shape(tmp_path):
    path = tmp_path / "m.safetensors"
    w = np.zeros((2, 3), np.float32)
    safetensors.numpy.save_file({"layers.0.weight": w, "layers.0.bias": np.zeros(3, "f4")}, path)
    with pytest.raises(InputError) as e:
        load_model(path, [3, 2])
    assert str(e.value) == f'{path}: tensor "layers.0.bias" has shape [3], expected [2]'
