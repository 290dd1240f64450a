"""The independent referee: the harness's own reading of model files, IDX data and scoring.

No contender's code is imported here, so a bug in one contender cannot become the truth for
all of them. The referee does two jobs:

- writes the shared initial models (CONTRACT.md's He-normal recipe):
      rng = numpy.random.default_rng(seed)
      W_i = (rng.standard_normal((out_i, in_i)) * sqrt(2 / in_i)).astype(float32),  b_i = 0
- re-scores each saved final model on the test set in float64:
      a_0 = x / 255,  z_i = a_{i-1} W_i^T + b_i,  a_i = max(z_i, alpha z_i) (hidden layers)
      prediction = first index of max(z_L)   (softmax and sigmoid are monotone)
  float64 rounds differently from a float32 contender, so a digit whose two largest outputs
  tie to ~1e-6 may flip: ingest allows EVALUATOR_TOLERANCE such flips.

Every problem is a RefereeError naming the file and what is wrong; ingest records it in the
model's evaluator row and goes on.
"""

from __future__ import annotations

import gzip
import itertools
import struct
import zlib
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from harness.errors import HarnessError

EVALUATOR_TOLERANCE = 2  # test digits whose prediction may flip between float32 and float64
IDX_MAGIC = {"images": 0x00000803, "labels": 0x00000801}


class RefereeError(HarnessError):
    """A file the referee cannot use: the message names it and the problem."""


def tensor_names(i: int) -> tuple[str, str]:
    """Layer i's weight and bias names (a PyTorch nn.Linear stack's layout)."""
    return f"layers.{i}.weight", f"layers.{i}.bias"


def he_normal(layers: list[int], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The contract's He-normal initial weights for `layers`, from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return [
        (
            (rng.standard_normal((fan_out, fan_in)) * np.sqrt(2 / fan_in)).astype(np.float32),
            np.zeros(fan_out, np.float32),
        )
        for fan_in, fan_out in itertools.pairwise(layers)
    ]


def write_model(path: Path, params: list[tuple[np.ndarray, np.ndarray]], init: str) -> None:
    """Save weights as a contract model file (F32 safetensors, metadata {"init": init})."""
    tensors = {}
    for i, (w, b) in enumerate(params):
        name_w, name_b = tensor_names(i)
        tensors[name_w], tensors[name_b] = w.astype(np.float32), b.astype(np.float32)
    try:
        path.write_bytes(safetensors.numpy.save(tensors, metadata={"init": init}))
    except OSError as exc:
        raise HarnessError(f"{path}: cannot write model file: {exc.strerror}") from exc


def write_inits(folder: Path, layers: list[int], seeds: list[int]) -> dict[int, Path]:
    """init/seed-<s>.safetensors for each seed; the paths by seed."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for seed in seeds:
        paths[seed] = folder / f"seed-{seed}.safetensors"
        write_model(paths[seed], he_normal(layers, seed), f"he_normal:{seed}")
    return paths


def read_model(path: Path, layers: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """A saved model's weights as float64, checked against `layers` (names, dtype, shape)."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise RefereeError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        tensors = dict(safetensors.deserialize(blob))
    except Exception as exc:  # the library raises its own error type for any malformed file
        raise RefereeError(f"{path}: not a safetensors file ({len(blob)} bytes)") from exc
    params = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(layers)):
        pair = []
        for name, shape in zip(tensor_names(i), ([fan_out, fan_in], [fan_out]), strict=True):
            info = tensors.get(name)
            if info is None:
                raise RefereeError(f'{path}: missing tensor "{name}"')
            if info["dtype"] != "F32" or list(info["shape"]) != shape:
                raise RefereeError(
                    f'{path}: tensor "{name}" is {info["dtype"]} {list(info["shape"])}, '
                    f"expected F32 {shape}"
                )
            array = np.frombuffer(info["data"], dtype="<f4").reshape(shape).astype(np.float64)
            if not np.all(np.isfinite(array)):
                raise RefereeError(f'{path}: tensor "{name}" holds a non-finite value')
            pair.append(array)
        params.append((pair[0], pair[1]))
    return params


def _idx_bytes(folder: Path, name: str) -> tuple[Path, bytes]:
    """The raw bytes of an IDX file, `name` or `name.gz` (multi-member gzip allowed)."""
    for path, packed in ((folder / name, False), (folder / f"{name}.gz", True)):
        if not path.is_file():
            continue
        try:
            raw = path.read_bytes()
            return path, gzip.decompress(raw) if packed else raw
        except OSError as exc:
            raise RefereeError(f"{path}: cannot read: {exc.strerror}") from exc
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise RefereeError(f"{path}: not a valid gzip stream") from exc
    raise RefereeError(f"{folder / name}: not found (nor {name}.gz)")


def read_idx(folder: Path, name: str, kind: str) -> np.ndarray:
    """IDX images (n, rows*cols) as float64 in [0, 1], or labels (n,) as int64."""
    path, raw = _idx_bytes(folder, name)
    header = 16 if kind == "images" else 8
    if len(raw) < header:
        raise RefereeError(f"{path}: expected a {header}-byte IDX header, found {len(raw)} bytes")
    magic, count = struct.unpack(">II", raw[:8])
    if magic != IDX_MAGIC[kind]:
        raise RefereeError(f"{path}: bad magic number 0x{magic:08x}, expected IDX {kind}")
    width = 1
    if kind == "images":
        rows, cols = struct.unpack(">II", raw[8:16])
        width = rows * cols
    if len(raw) < header + count * width:
        raise RefereeError(f"{path}: truncated: expected {count * width} bytes after the header")
    data = np.frombuffer(raw, np.uint8, count * width, header)
    if kind == "labels":
        return data.astype(np.int64)
    return data.reshape(count, width).astype(np.float64) / 255.0


def read_test_set(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The test images and labels of a dataset folder."""
    x = read_idx(folder, "t10k-images-idx3-ubyte", "images")
    y = read_idx(folder, "t10k-labels-idx1-ubyte", "labels")
    if len(x) != len(y):
        raise RefereeError(f"{folder}: {len(y)} test labels but {len(x)} test images")
    return x, y


def count_correct(
    params: list[tuple[np.ndarray, np.ndarray]], alpha: float, x: np.ndarray, y: np.ndarray
) -> int:
    """Test samples whose first maximal output is the label (float64 forward pass)."""
    a = x
    for k, (w, b) in enumerate(params):
        z = a @ w.T + b
        a = np.maximum(z, alpha * z) if k < len(params) - 1 else z
    return int(np.count_nonzero(a.argmax(axis=1) == y))
