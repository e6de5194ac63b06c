"""JavaScript number and text reading, where upstream's texts and checks depend on it."""

from __future__ import annotations

import json
import re
from typing import Final

_JS_FLOAT_PREFIX: Final = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_JS_INT_PREFIX: Final = re.compile(r"^\s*[+-]?\d+")


def js_parse_float(text: str) -> float | None:
    """JavaScript `parseFloat`: the longest numeric prefix; None where JS gives NaN."""
    match = _JS_FLOAT_PREFIX.match(text)
    return float(match.group(0)) if match else None


def js_parse_int(text: str) -> int | None:
    match = _JS_INT_PREFIX.match(text)
    return int(match.group(0)) if match else None


def js_truthy(value: object) -> bool:
    return value not in (None, False, 0, "")


def js_text(value: object) -> str:
    """How a template literal would show a payload value in an error text."""
    if value is None:
        return "undefined"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return ",".join(js_text(item) for item in value)
    return "[object Object]"
