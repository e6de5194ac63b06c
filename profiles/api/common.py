"""Small pieces every admin-defined resource's endpoints share: body parsing, JS-compatible
values and regexes, secret wrapping. No business logic lives here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework.request import Request

from rps_site.api.validation import MISSING
from rps_site.api.validation import js_string as builtin_js_string
from rps_site.errors import MalformedInput
from rps_site.sensitive import Secret

NOT_AN_OBJECT = "The request body must be a JSON object."


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, copied so validation may write defaults back into it."""
    data = request.data
    if isinstance(data, dict):
        return dict(data)
    if hasattr(data, "dict") and not data:  # an empty QueryDict: no body at all
        return {}
    raise MalformedInput(NOT_AN_OBJECT)


def js_string(value: Any) -> str:
    """`String(value)` for values a custom validator sees (undefined and null spelled out)."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    return builtin_js_string(value)


def is_json_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def strict_equals(value: Any, number: int) -> bool:
    """JavaScript `value === number`."""
    return is_json_number(value) and value == number


def reveal_secrets(body: Mapping[str, Any], secret_fields: Iterable[str]) -> dict[str, Any]:
    """The validated body with each present, non-null secret wrapped as a `Secret`."""
    wrapped = dict(body)
    for key in secret_fields:
        value = wrapped.get(key)
        if value is not None and value is not MISSING:
            wrapped[key] = Secret(value if isinstance(value, str) else builtin_js_string(value))
    return wrapped
