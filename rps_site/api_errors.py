"""Every API error in upstream's wire shapes, from one exception handler.

- validation failures: express-validator's `{"errors": [{type, value?, msg, path, location}]}`;
- business errors (`rps_site.errors`): `{"error": <name>, "message": <text>}`, the status and name
  from one table by class;
- concurrency: 409 (412 with `If-Match`) with the current record, secrets removed, and `ETag`;
- unknown routes and verbs: 404, as Express answers them.
Nothing here echoes a stack, SQL, a settings value, a Vault path or a request body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from django.db import DataError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response

from rps_site.authentication import TokenExpired
from rps_site.errors import (
    Duplicate,
    InUse,
    MalformedInput,
    MissingReference,
    NotFound,
    OperationFailed,
    Refused,
    RpsError,
    SecretConflict,
    ServiceUnavailable,
    ValidationFailed,
    VersionConflict,
)

logger = logging.getLogger(__name__)

# Business error class -> (status, upstream's error name); `message` is the error's public_message.
BUSINESS_ERRORS: Mapping[type[RpsError], tuple[int, str]] = {
    OperationFailed: (400, "Error"),
    MalformedInput: (400, "Bad Request"),
    Refused: (400, "Bad Request"),
    NotFound: (404, "Not Found"),
    Duplicate: (400, "Unique key violation"),
    InUse: (400, "Foreign key violation"),
    ServiceUnavailable: (503, "Service Unavailable"),
    SecretConflict: (409, "Conflict"),
}


class ConflictRenderer(Protocol):
    """A view that can show a record in a version conflict's answer (without secrets)."""

    def conflict_record(self, current: Any) -> Mapping[str, Any]: ...


def error_body(error: str, message: str) -> dict[str, str]:
    return {"error": error, "message": message}


def business_error_response(exc: RpsError, context: Mapping[str, Any]) -> Response:
    request = context.get("request")
    if isinstance(exc, ValidationFailed):
        return Response({"errors": exc.errors}, status=400)
    if isinstance(exc, VersionConflict):
        # rest-api.md §1.6: 412 when the request carried If-Match (any value), else 409.
        status = 412 if request is not None and "HTTP_IF_MATCH" in request.META else 409
        view: ConflictRenderer = context["view"]
        return Response(view.conflict_record(exc.current), status=status, headers={"ETag": exc.current_version})
    if isinstance(exc, MissingReference):
        # upstream passes PostgreSQL's text through as the error name
        return Response(error_body(f"Foreign key constraint violation: {exc.detail}", exc.public_message), status=400)
    status, error = next(BUSINESS_ERRORS[kind] for kind in type(exc).__mro__ if kind in BUSINESS_ERRORS)
    return Response(error_body(error, exc.public_message), status=status)


def api_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response:
    request = context.get("request")
    if isinstance(exc, RpsError):
        return business_error_response(exc, context)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        body = error_body("Unauthorized", str(exc.detail))
        if isinstance(exc, TokenExpired):
            # MPS's key: the stock web UI shows its "session timed out" dialog only when it is there.
            body["exp"] = "token expired"
        return Response(body, status=401, headers={"WWW-Authenticate": 'Bearer realm="rps"'})
    if isinstance(exc, exceptions.PermissionDenied):
        return Response(error_body("Forbidden", str(exc.detail)), status=403)
    if isinstance(exc, (exceptions.MethodNotAllowed, exceptions.NotFound, Http404)):
        path = request.path if request is not None else ""
        method = request.method if request is not None else ""
        return Response(error_body("Not Found", f"Cannot {method} {path}"), status=404)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body("Bad Request", "The request body is not valid JSON."), status=400)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response(error_body("Unsupported Media Type", "Send the request body as application/json."), status=415)
    if isinstance(exc, exceptions.Throttled):
        # DRF sets `Throttled.wait` (int | None) in __init__; djangorestframework-stubs 3.18.1 omit it.
        headers = {"Retry-After": str(int(exc.wait))} if exc.wait else {}  # type: ignore[attr-defined]
        return Response(error_body("Too Many Requests", "Request was throttled."), status=429, headers=headers)
    if isinstance(exc, exceptions.APIException):
        return Response(error_body("Error", str(exc.detail)), status=exc.status_code)
    if isinstance(exc, DataError):
        # A value the validation let through but the column cannot hold: the caller's input, not a fault.
        logger.warning("API input refused by the database (%s)", type(exc.__cause__).__name__)
        return Response(error_body("Bad Request", "A value in the request does not fit what is stored."), status=400)
    logger.exception("unexpected API error (%s)", type(exc).__name__)
    return Response(error_body("Internal Server Error", "Operation failed."), status=500)


@csrf_exempt  # answers 404 to every verb; it changes nothing, so CSRF has nothing to protect
def unknown_route(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any path under the API that no route serves: 404 like Express, never 405."""
    return JsonResponse(error_body("Not Found", f"Cannot {request.method} {request.path}"), status=404)
