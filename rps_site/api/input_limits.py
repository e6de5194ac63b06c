"""Bounds on what an API request may carry (SECURITY.md check 23), each refusal a clear 4xx.

- `ApiInputLimitsMiddleware`, before authentication: a body over `RPS_API_MAX_BODY_BYTES` is 413;
  a NUL character in the path or query string (PostgreSQL cannot compare text holding one) is 400.
- `BoundedJsonParser`, the API's JSON parser: a body nested deeper than `RPS_API_MAX_JSON_DEPTH`
  is refused before it is parsed (Python's parser recurses); every string, key or value, must be
  text PostgreSQL and Vault can store (no unpaired surrogate `"\\ud800"`, no NUL), and every
  number finite (`1e400` would parse as infinity).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from rps_site.api_errors import error_body
from rps_site.errors import MalformedInput

API_PREFIX = "/api/"
# A JSON string token or a bracket; brackets inside strings are skipped with their string.
JSON_NESTING_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[\]}]')
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


class ApiInputLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            refusal = self.refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    @staticmethod
    def refusal(request: HttpRequest) -> JsonResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("Bad Request", "The Content-Length header is not a number."), status=400)
        limit = settings.API_MAX_BODY_BYTES
        if length > limit:
            message = f"The request body is {length} bytes; the limit is {limit}."
            return JsonResponse(error_body("Payload Too Large", message), status=413)
        if "\x00" in request.path or "\x00" in unquote(request.META.get("QUERY_STRING", "")):
            return JsonResponse(error_body("Bad Request", "The URL contains a NUL character."), status=400)
        return None


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text` (brackets inside strings do not count)."""
    depth = deepest = 0
    for token in JSON_NESTING_TOKEN.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in "]}":
            depth -= 1
    return deepest


def unusable_value(data: Any) -> tuple[str, str] | None:
    """(where, what) of the first key, string or number that cannot be stored, walked without
    recursion."""
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else key
                if UNSTORABLE_TEXT.search(key):
                    return path or "the body", f"a key with {_describe(key)}"
                pending.append((where, item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
        elif isinstance(value, str) and UNSTORABLE_TEXT.search(value):
            return path or "the body", _describe(value)
        elif isinstance(value, float) and not math.isfinite(value):
            return path or "the body", "a number too large to represent"
    return None


def _describe(text: str) -> str:
    return "a NUL character" if "\x00" in text else "an unpaired UTF-16 surrogate"


class BoundedJsonParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError("The request body is not valid JSON.") from None
        limit = settings.API_MAX_JSON_DEPTH
        depth = json_depth(text)
        if depth > limit:
            raise MalformedInput(f"The JSON body nests {depth} levels deep; the limit is {limit}.")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise ParseError("The request body is not valid JSON.") from None
        found = unusable_value(data)
        if found is not None:
            where, what = found
            raise MalformedInput(f"The JSON body holds {what} in {where}.")
        return data
