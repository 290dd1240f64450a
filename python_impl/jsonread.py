"""JSON read exactly as the Rust binary's serde_json reads it: same values, same error positions.

- Text must be UTF-8; NaN, Infinity and numbers beyond float64 are errors (at the number's
  last character, or at the exponent digit that takes serde_json's i32 exponent past 2^31 - 1).
- An integer literal in [-2^63, 2^64) is an integer; any other number (and ``-0``) is a float64,
  correctly rounded (serde_json with ``float_roundtrip``).
- Arrays and objects nest at most 127 deep: serde_json's recursion limit makes the 128th
  opening bracket an error.
- A ``\\u`` escape of a UTF-16 surrogate must be one half of a pair (Python's own parser lets a
  lone surrogate through; serde_json does not); bad escapes are placed as serde_json places them.

An error is reported as serde_json reports it: the 1-based line and column (in bytes) of the
offending character, or of the last character read when the text ends early (column 0 on an
empty last line). Where the two parsers locate an error differently (a misspelt literal such as
``tru``), the column differs.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 128  # serde_json's recursion limit: the 128th nested [ or { is an error
INT_RANGE = range(-(2**63), 2**64)  # integers serde_json keeps as integers (i64 or u64)
EXPONENT_MAX = 2**31 - 1  # serde_json reads an exponent's digits into an i32
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)  # strings and brackets
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_LEADING, _TRAILING = range(0xD800, 0xDC00), range(0xDC00, 0xE000)  # UTF-16 surrogate halves
_SIMPLE = '"\\/bfnrt'  # the characters of one-letter escapes


class JsonError(Exception):
    """Not valid JSON; ``line`` and ``column`` are serde_json's position of the error."""

    def __init__(self, line: int, column: int) -> None:
        super().__init__(f"not valid JSON (line {line}, column {column})")
        self.line, self.column = line, column


class _ErrorAt(Exception):
    """An error at a character offset of the text (raised from the parser's hooks)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset


def parse_json(raw: bytes) -> Any:
    """The document in `raw`; JsonError at serde_json's position when serde_json rejects it."""

    def at_byte(offset: int) -> JsonError:  # columns count bytes, as serde_json's do
        line = raw.count(b"\n", 0, offset) + 1
        return JsonError(line, offset - (raw.rfind(b"\n", 0, offset) + 1) + (offset < len(raw)))

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise at_byte(e.start) from None
    doc, python_error = _loads(text)
    serde_only = _serde_only_error(text)  # an error Python's parser does not see
    if serde_only is not None and (python_error is None or serde_only < python_error):
        python_error = serde_only
    if python_error is not None:
        raise at_byte(len(text[: int(min(python_error, len(text)))].encode("utf-8")))
    return doc


def _loads(text: str) -> tuple[Any, float | None]:
    """Python's parse with serde_json's number rules: (document, None) or (None, error offset)."""

    def token(literal: str) -> re.Match | None:
        return re.search(rf"(?<![\w.+\-\"]){re.escape(literal)}(?![\w.])", text)

    def reject_constant(name: str) -> Any:  # NaN, Infinity: at the first letter
        found = token(name)
        raise _ErrorAt(found.start() + name.startswith("-") if found else 0)

    def parse_float(literal: str) -> float:  # 1e400: at its last character
        value = float(literal)
        if math.isinf(value):
            found = token(literal)
            where = found.end() - 1 if found else 0
            overflow = _exponent_overflow(literal)
            raise _ErrorAt(found.start() + overflow if found and overflow else where)
        return value

    def parse_int(literal: str) -> int | float:  # beyond 64 bits, or -0: a float
        if len(literal) <= 21 and literal != "-0" and (value := int(literal)) in INT_RANGE:
            return value
        return parse_float(literal)

    try:
        doc = json.loads(
            text, parse_constant=reject_constant, parse_float=parse_float, parse_int=parse_int
        )
    except _ErrorAt as e:
        return None, e.offset
    except json.JSONDecodeError as e:
        if e.msg.startswith("Invalid \\"):  # a bad escape: _bad_escape places it as serde_json
            return None, math.inf
        # An unterminated string is an early end for serde_json.
        return None, len(text) if e.msg.startswith("Unterminated") else e.pos
    except RecursionError:  # nested deeper than Python's limit: far past MAX_DEPTH
        return None, math.inf
    return doc, None


def _exponent_overflow(literal: str) -> int | None:
    """Where serde_json stops reading a number whose exponent overflows its i32, if it does.

    serde_json accumulates the exponent's digits in an i32 and, for a number that is not zero
    with a positive exponent, fails at the first digit that would take it past 2^31 - 1 (the
    10th or 11th digit), before the number's last character. Returns that digit's index.
    """
    marker = re.search(r"[eE][+-]?", literal)
    if marker is None or marker.group().endswith("-"):
        return None
    exponent = 0
    for i in range(marker.end(), len(literal)):
        digit = ord(literal[i]) - ord("0")
        if exponent * 10 + digit > EXPONENT_MAX:
            return i
        exponent = exponent * 10 + digit
    return None


def _serde_only_error(text: str) -> int | None:
    """The offset of the first bracket nested MAX_DEPTH deep or bad escape in a string, if any."""
    depth = 0
    for found in _TOKENS.finditer(text):
        item = found.group()
        if item in ("[", "{"):
            depth += 1
            if depth == MAX_DEPTH:
                return found.start()
        elif item in ("]", "}"):
            depth -= 1
        elif (bad := _bad_escape(text, found.start(), item)) is not None:
            return bad
    return None


def _bad_escape(text: str, start: int, string: str) -> int | None:
    """Where serde_json stops on a bad escape in the string token at `start`, if it does.

    Python's parser lets lone surrogates through and places its other escape errors elsewhere.
    """
    pending = 0  # offset just after a leading half whose trailing half must follow
    for escape in _ESCAPE.finditer(string):
        at = start + escape.start()  # the backslash
        if pending and at != pending:
            return pending  # a leading half, then not a backslash: at that character
        if escape.group() == "\\u":  # not 4 hex digits: at the 4th character, or the end
            return at + 5 if at + 5 < len(text) else len(text)
        code = int(escape.group(1), 16) if escape.group(1) else None
        if code is None and (pending or escape.group()[1] not in _SIMPLE):
            return at + 1  # \ then neither u nor a simple escape: at that character
        if pending:
            if code not in _TRAILING:  # \uXXXX but not a trailing half: at its last digit
                return at + 5
            pending = 0
        elif code in _TRAILING:  # a trailing half first: at its last digit
            return at + 5
        elif code in _LEADING:
            pending = at + 6
    return pending or None  # a leading half ending the string: at the closing quote
