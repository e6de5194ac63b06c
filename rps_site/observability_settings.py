"""The observability settings (README "Observability"), read by `rps_site.settings` from the
environment through each app's own reader: audit retention, the `/metrics` credential, MQTT."""

from __future__ import annotations

from typing import Any

from audit.config import audit_retention_days_from
from events.config import MqttSettings, mqtt_settings_from
from metrics.config import metrics_token_from
from rps_site.sensitive import Secret


def observability_from(env: Any, *, debug: bool) -> tuple[int, Secret, MqttSettings | None]:
    """(RPS_AUDIT_RETENTION_DAYS, RPS_METRICS_TOKEN, the MQTT settings or None when off)."""
    return audit_retention_days_from(env), metrics_token_from(env, debug=debug), mqtt_settings_from(env)
