"""SPEC.json: parsing and every validation rule of CONTRACT.md, in its order and wording.

Choices CONTRACT.md leaves open, made here (the Rust binary must make the same ones):
- JSON is read as serde_json reads it (python_impl.jsonread): numbers beyond float64, NaN,
  nesting 128 deep and lone surrogate escapes are "not valid JSON" at serde_json's position.
- An object whose allowed keys depend on its ``kind`` (hidden_activation, init) is checked
  against the keys of its kind when ``kind`` is valid, else against the keys of all kinds.
- A value of the wrong JSON type for an object field says ``expected an object, got <v>``.
- The network must have fewer than 2^31 weights and biases in all (MAX_ELEMENTS).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from python_impl.data import NUM_CLASSES, read_file
from python_impl.errors import InputError
from python_impl.jsonread import JsonError, parse_json
from python_impl.model import Activation

TOP_KEYS = (
    "spec_version",
    "dataset",
    "layers",
    "hidden_activation",
    "output",
    "init",
    "optimizer",
    "batch_size",
    "max_epochs",
    "target_accuracy",
    "dtype",
)
OUTPUTS = ("softmax_cross_entropy", "sigmoid_mse")
SEED_LIMIT = 2**63
MAX_ELEMENTS = 2**31  # bound on a network's parameters, and on one pass's activations
MAX_SPEC_BYTES = 1 << 20  # the longest spec file read (1 MiB; the shipped ones are < 1 KiB)


@dataclass(frozen=True)
class Init:
    """Where the initial weights come from: He-normal from a seed, or a safetensors file."""

    kind: str  # "he_normal" or "file"
    seed: int | None = None  # he_normal: the numpy.random.default_rng seed
    path: str | None = None  # file: resolved against the spec's folder


@dataclass(frozen=True)
class Spec:
    """A validated SPEC.json; paths are resolved against the spec's folder (joined as text)."""

    path: str  # the spec file as given on the command line
    sha256: str  # hex digest of the file's bytes
    spec_version: int  # always 1
    dataset_name: str  # e.g. "mnist-mini"
    dataset_dir: str  # folder with the four IDX files
    layers: tuple[int, ...]  # sizes, input first, 10 outputs last
    hidden_activation: Activation  # relu or leaky_relu(alpha)
    output: str  # "softmax_cross_entropy" or "sigmoid_mse"
    init: Init  # initial weights
    learning_rate: float  # SGD step size, finite and > 0
    batch_size: int  # samples per optimizer step (the last batch may be smaller)
    max_epochs: int  # stop (exit 1) after this many epochs below target
    target_accuracy: float  # stop (exit 0) once correct > target_accuracy * test_samples
    dtype: str  # always "f32"


def compact(value: Any) -> str:
    """The value as compact JSON, as error messages quote it (floats as serde_json writes them)."""
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, list):
        return "[" + ",".join(compact(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)}:{compact(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    return json.dumps(value, ensure_ascii=False)


def _float_text(x: float) -> str:
    """Python's shortest repr, written as serde_json does below 1e-4: 0.00001, 1e-7 (not 1e-07)."""
    text = repr(x)
    if "e-" not in text:
        return text  # same digits and form: 0.1, 100.0, 1e+16
    mantissa, exponent = text.split("e-")
    if int(exponent) == 5:
        return format(Decimal(text), "f")  # 1.5e-05 -> 0.000015
    return f"{mantissa}e-{int(exponent)}"


def resolve(spec_path: str, path: str) -> str:
    """A spec-relative path joined onto the spec's folder (absolute paths are kept)."""
    return os.path.join(os.path.dirname(spec_path), path)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class _Checker:
    """Raises InputError lines that name the spec file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, problem: str) -> InputError:
        return InputError(f"{self.path}: {problem}")

    def bad(self, field: str, rule: str, value: Any) -> InputError:
        return self.fail(f"{field}: expected {rule}, got {compact(value)}")

    def keys(self, obj: dict, allowed: tuple[str, ...], required: tuple[str, ...], where: str):
        """Unknown keys (first in file order), then missing keys (in canonical order)."""
        for key in obj:
            if key not in allowed:
                names = ", ".join(allowed)
                raise self.fail(f'unknown key "{key}" in {where} (allowed: {names})')
        for key in required:
            if key not in obj:
                raise self.fail(f'missing key "{key}" in {where}')

    def obj(self, value: Any, field: str) -> dict:
        if not isinstance(value, dict):
            raise self.bad(field, "an object", value)
        return value

    def text(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.bad(field, "a non-empty string", value)
        return value

    def positive_int(self, value: Any, field: str) -> int:
        if not _is_int(value) or value <= 0:
            raise self.bad(field, "a positive integer", value)
        return value

    def choice(self, value: Any, field: str, allowed: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise self.bad(field, " or ".join(f'"{a}"' for a in allowed), value)
        return value

    def kind(self, obj: dict, keys: dict[str, tuple[str, ...]], where: str) -> str:
        """The object's ``kind``, its keys checked against those of that kind when it is valid,
        else against the keys of all kinds (only ``kind`` required)."""
        kind = obj.get("kind")
        if isinstance(kind, str) and kind in keys:
            allowed = required = keys[kind]
        else:
            allowed = tuple(dict.fromkeys(key for names in keys.values() for key in names))
            required = ("kind",)
        self.keys(obj, allowed, required, where)
        return self.choice(obj["kind"], f"{where}.kind", tuple(keys))


def load_spec(path: Path | str) -> Spec:
    """Read and validate SPEC.json; raises InputError with CONTRACT.md's exact line."""
    path = str(path)
    raw = read_file(path, MAX_SPEC_BYTES)
    if len(raw) > MAX_SPEC_BYTES:
        raise InputError(f"{path}: expected a spec of at most {MAX_SPEC_BYTES} bytes, found more")
    try:
        doc = parse_json(raw)
    except JsonError as e:
        raise InputError(f"{path}: {e}") from None
    c = _Checker(path)
    if not isinstance(doc, dict):
        raise c.fail("expected a JSON object at the top level")
    c.keys(doc, TOP_KEYS, TOP_KEYS, "the spec")

    if not _is_int(doc["spec_version"]) or doc["spec_version"] != 1:
        raise c.bad("spec_version", "1", doc["spec_version"])

    dataset = c.obj(doc["dataset"], "dataset")
    c.keys(dataset, ("name", "dir"), ("name", "dir"), "dataset")
    name = c.text(dataset["name"], "dataset.name")
    data_dir = resolve(path, c.text(dataset["dir"], "dataset.dir"))

    layers = doc["layers"]
    if not isinstance(layers, list) or len(layers) < 2:
        raise c.bad("layers", "a list of at least 2 positive integers", layers)
    for i, size in enumerate(layers):
        c.positive_int(size, f"layers[{i}]")
    if layers[-1] != NUM_CLASSES:
        last = f"layers[{len(layers) - 1}]"
        raise c.bad(last, f"{NUM_CLASSES} (one output per digit class)", layers[-1])
    if sum(n_out * (n_in + 1) for n_in, n_out in itertools.pairwise(layers)) >= MAX_ELEMENTS:
        raise c.bad("layers", "fewer than 2^31 weights and biases in all", layers)

    activation = _hidden_activation(c, doc["hidden_activation"])
    output = c.choice(doc["output"], "output", OUTPUTS)
    init = _init(c, doc["init"])

    optimizer = c.obj(doc["optimizer"], "optimizer")
    c.keys(optimizer, ("kind", "learning_rate"), ("kind", "learning_rate"), "optimizer")
    c.choice(optimizer["kind"], "optimizer.kind", ("sgd",))
    lr = optimizer["learning_rate"]
    if not _is_number(lr) or not math.isfinite(lr) or lr <= 0:
        raise c.bad("optimizer.learning_rate", "a finite number > 0", lr)

    batch_size = c.positive_int(doc["batch_size"], "batch_size")
    max_epochs = c.positive_int(doc["max_epochs"], "max_epochs")
    target = doc["target_accuracy"]
    if not _is_number(target) or not 0 < target <= 1:
        raise c.bad("target_accuracy", "a number in (0, 1]", target)
    dtype = c.choice(doc["dtype"], "dtype", ("f32",))

    return Spec(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        spec_version=1,
        dataset_name=name,
        dataset_dir=data_dir,
        layers=tuple(layers),
        hidden_activation=activation,
        output=output,
        init=init,
        learning_rate=float(lr),
        batch_size=batch_size,
        max_epochs=max_epochs,
        target_accuracy=float(target),
        dtype=dtype,
    )


def _hidden_activation(c: _Checker, value: Any) -> Activation:
    """{kind: "relu"} or {kind: "leaky_relu", alpha: number in [0, 1)}."""
    obj = c.obj(value, "hidden_activation")
    keys = {"relu": ("kind",), "leaky_relu": ("kind", "alpha")}
    if c.kind(obj, keys, "hidden_activation") == "relu":
        return Activation("relu")
    alpha = obj["alpha"]
    if not _is_number(alpha) or not 0 <= alpha < 1:
        raise c.bad("hidden_activation.alpha", "a number in [0, 1)", alpha)
    return Activation("leaky_relu", float(alpha))


def _init(c: _Checker, value: Any) -> Init:
    """{kind: "he_normal", seed: integer in [0, 2^63)} or {kind: "file", path: string}."""
    obj = c.obj(value, "init")
    keys = {"he_normal": ("kind", "seed"), "file": ("kind", "path")}
    if c.kind(obj, keys, "init") == "file":
        return Init("file", path=resolve(c.path, c.text(obj["path"], "init.path")))
    seed = obj["seed"]
    if not _is_int(seed) or not 0 <= seed < SEED_LIMIT:
        raise c.bad("init.seed", "an integer in [0, 2^63)", seed)
    return Init("he_normal", seed=seed)
