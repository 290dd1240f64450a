"""Model files: safetensors, float32, ``layers.{i}.weight`` (out, in) and ``layers.{i}.bias``."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from python_impl.data import read_file
from python_impl.errors import InputError
from python_impl.model import Params


def tensor_names(i: int) -> tuple[str, str]:
    """The names of layer i's weight and bias (the layout of a PyTorch nn.Linear stack)."""
    return f"layers.{i}.weight", f"layers.{i}.bias"


def _shape(shape: list[int] | tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def save_model(path: Path | str, params: Params, metadata: dict[str, str] | None = None) -> None:
    """Write params as safetensors; InputError when the file cannot be written."""
    tensors = {}
    for i, (w, b) in enumerate(params):
        name_w, name_b = tensor_names(i)
        tensors[name_w] = np.ascontiguousarray(w, dtype=np.float32)
        tensors[name_b] = np.ascontiguousarray(b, dtype=np.float32)
    blob = safetensors.numpy.save(tensors, metadata=metadata)
    try:
        with open(path, "wb") as f:
            f.write(blob)
    except OSError as e:
        raise InputError(f"{path}: cannot write model file: {e.strerror}") from None


def load_model(path: Path | str, layers: list[int]) -> Params:
    """Read the weights of a `layers`-sized MLP, checking names, shapes and dtypes in order.

    Tensors are checked for i = 0.., weight then bias: present, then dtype, then shape, then
    every value finite (a NaN or infinite weight is bad input, not a run that diverges).
    Other tensors in the file are ignored.
    """
    blob = read_file(path)
    try:
        tensors = dict(safetensors.deserialize(blob))
    except Exception:  # the library raises its own SafetensorError for any malformed file
        raise InputError(f"{path}: not a safetensors file") from None
    params = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(layers)):
        arrays = []
        for name, shape in zip(tensor_names(i), ([fan_out, fan_in], [fan_out]), strict=True):
            if name not in tensors:
                raise InputError(f'{path}: missing tensor "{name}"')
            info = tensors[name]
            if info["dtype"] != "F32":
                raise InputError(f'{path}: tensor "{name}" has dtype {info["dtype"]}, expected F32')
            if list(info["shape"]) != shape:
                raise InputError(
                    f'{path}: tensor "{name}" has shape {_shape(info["shape"])}, '
                    f"expected {_shape(shape)}"
                )
            array = np.frombuffer(info["data"], dtype="<f4").reshape(shape)
            if not np.isfinite(array).all():
                raise InputError(f'{path}: tensor "{name}" holds a non-finite value')
            arrays.append(array.copy())
        params.append((arrays[0], arrays[1]))
    return params
