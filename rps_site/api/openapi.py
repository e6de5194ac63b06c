"""OpenAPI for the admin API: request bodies from the resources' field shapes, the OData paging
parameters, and the documented error bodies (rest-api.md §1.9), so the document says what the
API accepts and answers (tests/rps_site/test_api_fuzz.py holds the API to it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from rps_site.api import paging
from rps_site.api.validation import ArrayOf, Boolean, Number, Record, Shape, Text

ERROR = {
    "type": "object",
    "description": "A business error, an authentication or permission refusal, or a bound exceeded.",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
VALIDATION_ERRORS = {
    "type": "object",
    "description": "express-validator's list; `value` is left out for secrets and containers.",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "msg", "path", "location"],
                "properties": {
                    "type": {"type": "string"},
                    "value": {},
                    "msg": {"type": "string"},
                    "path": {"type": "string"},
                    "location": {"type": "string", "enum": ["body", "query"]},
                },
            },
        }
    },
}
BAD_REQUEST = {"oneOf": [VALIDATION_ERRORS, ERROR]}
ERROR_STATUSES = {
    400: ("Validation failed, or a business rule refused the request", BAD_REQUEST),
    401: ("No valid credential", ERROR),
    403: ("The credential lacks the permission", ERROR),
    404: ("No such record in the caller's tenant", ERROR),
    413: ("The body is over RPS_API_MAX_BODY_BYTES", ERROR),
    429: ("Throttled; Retry-After says when to come back", ERROR),
    503: ("The secret store is unavailable; nothing was changed", ERROR),
}
OPENAPI_TYPES = {"integer": OpenApiTypes.INT, "string": OpenApiTypes.STR}
PAGING = [
    OpenApiParameter(name, OPENAPI_TYPES[kind], OpenApiParameter.QUERY, description=text)
    for name, kind, text in paging.PARAMETERS
]


def shape_schema(shape: Shape) -> dict[str, Any]:
    """The JSON Schema of what a field is meant to hold (the API also reads numbers as text)."""
    if isinstance(shape, Text):
        text: dict[str, Any] = {"type": "string"}
        if shape.max_length is not None:
            text["maxLength"] = shape.max_length
        if shape.pattern is not None:
            text["pattern"] = shape.pattern
        return {**text, "enum": list(shape.choices)} if shape.choices else text
    if isinstance(shape, Number):
        if shape.choices:
            return {"type": "integer", "enum": list(shape.choices)}
        low, high = shape.bounds
        return {"type": "integer", "minimum": low, "maximum": high}
    if isinstance(shape, Boolean):
        return {"type": "boolean"}
    if isinstance(shape, ArrayOf):
        return {"type": "array", "items": shape_schema(shape.items)}
    if isinstance(shape, Record):
        return {"type": "object", "properties": {key: shape_schema(inner) for key, inner in shape.fields.items()}}
    raise TypeError(f"no schema for {shape!r}")


def body_schema(shapes: Mapping[str, Shape], example: Mapping[str, Any] | None = None) -> dict[str, Any]:
    schema = {"type": "object", "properties": {key: shape_schema(shape) for key, shape in shapes.items()}}
    return {**schema, "example": dict(example)} if example is not None else schema


CURRENT_RECORD = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="The record changed since it was read (412 with If-Match): the current record, "
    "without secrets, with its version in ETag",
)


def error_responses(statuses: Iterable[int]) -> dict[int, OpenApiResponse]:
    return {
        status: OpenApiResponse(response=ERROR_STATUSES[status][1], description=ERROR_STATUSES[status][0])
        for status in statuses
    }


def endpoint(
    tag: str,
    *,
    status: int = 200,
    body: Mapping[str, Shape] | None = None,
    example: Mapping[str, Any] | None = None,
    errors: Iterable[int] = (400, 401, 403, 404, 413, 503),
    paged: bool = False,
    parameters: list[OpenApiParameter] | None = None,
    operation_id: str | None = None,
    summary: str | None = None,
    description: str | None = None,
) -> Any:
    """`extend_schema` for one admin endpoint: its body's fields, its answer and its errors (an
    update, a body answered with 200, may also answer 409/412 with the current record)."""
    answer: Any = None if status == 204 else OpenApiTypes.OBJECT
    conflicts = {409: CURRENT_RECORD, 412: CURRENT_RECORD} if body is not None and status == 200 else {}
    return extend_schema(
        tags=[tag],
        operation_id=operation_id,
        summary=summary,
        description=description,
        request={"application/json": body_schema(body, example)} if body is not None else None,
        parameters=[*(PAGING if paged else []), *(parameters or [])] or None,
        responses={status: answer, **error_responses(errors), **conflicts},
    )
