"""`GET /metrics`: the Prometheus exposition, for a scraper holding `RPS_METRICS_TOKEN` as a bearer
token (Prometheus: `authorization: {credentials: ...}`). Without the setting the endpoint does not
exist (404); a missing or wrong token is 401. With `PROMETHEUS_MULTIPROC_DIR` the answer sums
every worker of the host (metrics.multiprocess)."""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector


def _authorized(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN.reveal().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        return HttpResponse(status=404)
    if not _authorized(request):
        response = HttpResponse(
            "a bearer token (RPS_METRICS_TOKEN) is required\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
