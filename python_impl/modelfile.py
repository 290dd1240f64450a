"""Model files: safetensors, float32, ``layers.{i}.weight`` (out, in) and ``layers.{i}.bias``.

A model is written atomically (CONTRACT.md, *Model files*): into a new temporary file in the
destination's folder, synced to disk, then renamed over the destination, which must be absent
or a regular file (never a symlink, device, FIFO or folder). A failure or a signal removes the
temporary file, so the destination holds the whole new model or stays as it was.
"""

from __future__ import annotations

import itertools
import os
import secrets
import stat
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from python_impl.data import read_file
from python_impl.errors import InputError
from python_impl.model import Params
from python_impl.signals import PENDING

NOT_REGULAR = "not a regular file"  # why a destination that exists but is not a file is refused


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
    write_atomically(str(path), safetensors.numpy.save(tensors, metadata=metadata))


def temporary_name(folder: str) -> str:
    """A fresh name for a model being written in `folder` (the same pattern as the Rust one)."""
    return os.path.join(folder, f".mlp-model-{secrets.token_hex(8)}.tmp")


def _refuse_unless_regular(path: str) -> None:
    """InputError unless `path` is absent or a regular file (lstat: a symlink is refused)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise InputError(f"{path}: cannot write model file: {e.strerror}") from None
    if not stat.S_ISREG(mode):
        raise InputError(f"{path}: cannot write model file: {NOT_REGULAR}")


def write_atomically(path: str, blob: bytes) -> None:
    """Write `blob` at `path` through a synced temporary file in the same folder, renamed over
    it; InputError (the destination untouched, no temporary file left) when that fails."""
    _refuse_unless_regular(path)
    temporary = temporary_name(os.path.dirname(path) or ".")
    PENDING.add(temporary)  # before it exists: a signal from now on removes it
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as e:
        PENDING.discard(temporary)
        raise InputError(f"{path}: cannot write model file: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        _refuse_unless_regular(path)  # again: it may have been replaced while writing
        os.replace(temporary, path)
    except (OSError, InputError) as e:
        os.unlink(temporary)
        if isinstance(e, InputError):
            raise
        raise InputError(f"{path}: cannot write model file: {e.strerror}") from None
    finally:
        PENDING.discard(temporary)
    _sync_folder(os.path.dirname(path) or ".")


def _sync_folder(folder: str) -> None:
    """Make the rename durable (best effort: not every file system syncs a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
