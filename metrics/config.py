"""`RPS_METRICS_TOKEN`, read by the settings: the bearer token of `GET /metrics` (empty: no endpoint)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from rps_site.sensitive import Secret

MIN_LENGTH = 16


def metrics_token_from(env: Any, *, debug: bool) -> Secret:
    token = Secret(env.str("RPS_METRICS_TOKEN", default=""))
    if token and not debug and len(token.reveal()) < MIN_LENGTH:
        raise ImproperlyConfigured(
            f"Refusing insecure production settings: RPS_METRICS_TOKEN needs {MIN_LENGTH}+ characters"
        )
    return token
