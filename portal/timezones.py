"""Portal pages in the admin's own time zone.

The portal's script stores the browser's IANA zone name in a cookie; portal requests then render
times in that zone (Django converts on display). Anything that is not a known zone name is
ignored, and other paths (the API) are never affected.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

TIMEZONE_COOKIE = "rps_tz"


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@lru_cache(maxsize=1)
def portal_prefix() -> str:
    return reverse("admin:index")


class PortalTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = request.COOKIES.get(TIMEZONE_COOKIE, "")
        if name in known_zones() and request.path_info.startswith(portal_prefix()):
            with timezone.override(zoneinfo.ZoneInfo(name)):
                return self.get_response(request)
        return self.get_response(request)
