"""Number formats and Markdown escaping: how the report and compare print a value.

Standard library only, like harness.presentation.wording, which writes the sentences around these.
"""

from __future__ import annotations

import re
from typing import Any


def num(value: Any, digits: int = 4) -> str:
    """A number with `digits` significant digits (large ones whole, with commas); n/a if None."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    number = float(value)
    if abs(number) >= 10 ** (digits - 1):
        return f"{number:,.0f}"
    return f"{number:.{digits}g}"


def pct(value: Any, decimals: int = 0) -> str:
    """A fraction as a percentage (0.912 -> `91 %`)."""
    return "n/a" if value is None else f"{100 * float(value):.{decimals}f} %"


def sci(value: Any) -> str:
    """A small difference in scientific notation."""
    return "n/a" if value is None else f"{float(value):.2e}"


def ratio(value: Any) -> str:
    """A speed-up ratio, two decimals (`2.67`); n/a if None."""
    return "n/a" if value is None else f"{float(value):.2f}"


def p_value(value: Any) -> str:
    """A p-value: `< 0.001` or three decimals."""
    if value is None:
        return "n/a"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def p_text(value: Any) -> str:
    """`p < 0.001`, `p = 0.023` or `p n/a`."""
    text = p_value(value)
    return f"p {text}" if text.startswith("<") or text == "n/a" else f"p = {text}"


def cell(value: Any) -> str:
    """A table cell: booleans as yes/NO, floats compactly, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|~])")  # emphasis, code, links, table cells
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")  # what could open a tag, comment or autolink
_ENTITY = re.compile(r"&(?=#?\w+;)")  # what could be read as a character reference


def md(value: Any) -> str:
    """Text that Markdown shows as written: no tags, links, emphasis or table breaks."""
    text = _MD_SPECIAL.sub(r"\\\1", str(value).replace("\n", " "))
    return _HTML_START.sub("&lt;", _ENTITY.sub("&amp;", text))


def code(value: object) -> str:
    """A status or verdict code in words: `not_comparable` -> `not comparable`."""
    return "" if value is None else str(value).replace("_", " ")
