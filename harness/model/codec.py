"""Strict JSON <-> frozen dataclasses, for the typed files whose every field is declared.

`decode(cls, data, source)` builds a dataclass from a JSON object: an unknown key, a missing
required key or a value of the wrong kind raises HarnessError naming the file (`source`) and
the field's path (`contenders[2].wall`). `encode(obj)` gives back the JSON object, keys in
field order. A field made with `optional()` may be absent from the file: it then reads as its
default, and `encode` leaves it out again while it holds that default (None or empty), so a
file that lacked the key round-trips unchanged.

Values are kept as JSON gave them (an int where a float is declared stays an int), so
`encode(decode(cls, data))` equals `data`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar, Union

from harness.errors import HarnessError

T = TypeVar("T")
_OMIT = "omit_when_default"
_HINTS: dict[type, dict[str, Any]] = {}


def optional(default: Any = None) -> Any:
    """A field whose key may be absent: reads as `default` (None, or an empty list or dict);
    left out of the JSON while it holds that default."""
    if isinstance(default, list | dict):
        empty = type(default)
        return dataclasses.field(default_factory=empty, metadata={_OMIT: True})
    return dataclasses.field(default=default, metadata={_OMIT: True})


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _fail(source: str, path: str, message: str) -> HarnessError:
    return HarnessError(f"{source}: {path}: {message}" if path else f"{source}: {message}")


def _kind(value: Any) -> str:
    return json.dumps(value)[:60]


def _decode(tp: Any, value: Any, source: str, path: str) -> Any:
    """value (parsed JSON) as type tp; HarnessError naming source and path otherwise."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise _fail(source, path, f"expected {_name(tp)}, got null")
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _decode(arg, value, source, path)
            except HarnessError as exc:
                errors.append(exc)
        unknown = [e for e in errors if "unknown field" in str(e)]
        raise (
            unknown[0]
            if unknown
            else _fail(source, path, f"expected {_name(tp)}, got {_kind(value)}")
        )
    if origin is list:
        if not isinstance(value, list):
            raise _fail(source, path, f"expected a list, got {_kind(value)}")
        (item,) = typing.get_args(tp)
        return [_decode(item, v, source, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(source, path, f"expected an object, got {_kind(value)}")
        _, item = typing.get_args(tp)
        return {k: _decode(item, v, source, f"{path}[{k!r}]") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return decode(tp, value, source, path)  # type: ignore[arg-type]
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    if not ok:
        raise _fail(source, path, f"expected {_name(tp)}, got {_kind(value)}")
    return value


def _name(tp: Any) -> str:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def decode(cls: type[T], data: Any, source: str, path: str = "") -> T:
    """A `cls` from the JSON object data, strictly (see the module docstring)."""
    if not isinstance(data, dict):
        raise _fail(source, path, f"expected an object, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            raise _fail(
                source,
                path,
                f"unknown field {key!r}; this harness's model (harness/model/analysis.py) lacks it",
            )
    hints, values = _hints(cls), {}
    for name, f in fields.items():
        where = f"{path}.{name}" if path else name
        if name in data:
            values[name] = _decode(hints[name], data[name], source, where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(source, where, "missing")
    return cls(**values)


def encode(value: Any) -> Any:
    """The JSON form of a dataclass (and the lists, dicts and values inside it)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.metadata.get(_OMIT) and item in (None, [], {}):
                continue
            out[f.name] = encode(item)
        return out
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value
