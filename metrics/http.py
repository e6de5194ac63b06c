"""Requests answered, by URL pattern (never the raw path: names and GUIDs stay out of labels),
method and status, and how long the application took."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from metrics.registry import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from rps_site.api_errors import unknown_route

UNMATCHED = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def route_label(pattern: str) -> str:
    """`^api/v1/admin/?^profiles/(?P<name>[^/]+)/?$` -> `api/v1/admin/profiles/{name}`."""
    text = _CONVERTER.sub(r"{\1}", _NAMED_GROUP.sub(r"{\1}", pattern))
    text = text.replace("/?", "/").replace("^", "").replace("$", "")
    return "/" + "/".join(part for part in text.split("/") if part)


def request_route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or match.func is unknown_route:
        return UNMATCHED
    return route_label(match.route)


class HttpMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self.get_response(request)
        route = request_route(request)
        method = request.method if request.method in KNOWN_METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        HTTP_REQUEST_DURATION.labels(route, method).observe(time.monotonic() - started)
        return response
