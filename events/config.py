"""`RPS_MQTT_URL` (or upstream's `RPS_MQTT_ADDRESS`): where events go, read once by the settings.

- empty: events are off (upstream's default);
- `mqtt://host[:port]`: plain TCP, port 1883 by default, as upstream;
- `mqtts://host[:port]`: TLS, port 8883 by default, the broker's certificate checked against
  `RPS_MQTT_CA_FILE` or the system CAs;
- `host:port` without a scheme: read as `mqtt://host:port` (upstream would connect to
  localhost:1883 instead; events.md §1);
- credentials: `mqtt://user:password@host`, or `RPS_MQTT_USERNAME` / `RPS_MQTT_PASSWORD`
  (upstream sends none). The password is a `Secret` from here on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from rps_site.sensitive import Secret

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
DEFAULT_QUEUE = 1000


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int
    tls: bool
    username: str
    password: Secret | None
    ca_file: str
    queue_size: int


def mqtt_settings_from(env: Any) -> MqttSettings | None:
    """The settings from the environment (`rps_site.settings` reads every setting through here)."""
    return mqtt_settings(
        env.str("RPS_MQTT_URL", default="") or env.str("RPS_MQTT_ADDRESS", default=""),
        username=env.str("RPS_MQTT_USERNAME", default=""),
        password=env.str("RPS_MQTT_PASSWORD", default=""),
        ca_file=env.str("RPS_MQTT_CA_FILE", default=""),
        queue_size=env.int("RPS_MQTT_QUEUE_SIZE", default=DEFAULT_QUEUE),
    )


def mqtt_settings(
    url: str, *, username: str = "", password: str = "", ca_file: str = "", queue_size: int = DEFAULT_QUEUE
) -> MqttSettings | None:
    url = url.strip()
    if not url:
        return None
    if "://" not in url:
        url = f"mqtt://{url}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ImproperlyConfigured("RPS_MQTT_URL must start with mqtt:// or mqtts://")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise ImproperlyConfigured("RPS_MQTT_URL has a port that is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ImproperlyConfigured("RPS_MQTT_URL names no broker host")
    if queue_size < 1:
        raise ImproperlyConfigured("RPS_MQTT_QUEUE_SIZE must be at least 1")
    secret = unquote(parts.password) if parts.password is not None else password
    return MqttSettings(
        host=parts.hostname,
        port=port,
        tls=scheme == "mqtts",
        username=unquote(parts.username) if parts.username else username,
        password=Secret(secret) if secret else None,
        ca_file=ca_file,
        queue_size=queue_size,
    )
