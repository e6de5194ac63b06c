"""Who is writing: the request being served, kept in a context variable by `AuditContextMiddleware`
so that a service deep below the view can record its caller without every signature carrying it.

The context variable follows the request through asgiref's thread hops. The caller is read when
the entry is written, after the API's authentication (DRF sets the user on the Django request too).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from rps_site.logs import API_PREFIX, caller

_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
SYSTEM = "system"


@dataclass(frozen=True)
class Caller:
    who: str
    via: str  # api | portal | system
    client_address: str


def current_caller() -> Caller:
    request = _current_request.get()
    if request is None:
        return Caller(who=SYSTEM, via=SYSTEM, client_address="")
    who, _ = caller(request)
    via = "api" if request.path.startswith(API_PREFIX) else "portal"
    return Caller(who=who, via=via, client_address=str(request.META.get("REMOTE_ADDR", ""))[:64])


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
