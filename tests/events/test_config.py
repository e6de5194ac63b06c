"""RPS_MQTT_URL: off when empty, upstream's mqtt://host:port, TLS and credentials beyond it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from events.config import mqtt_settings


def test_empty_is_off_and_upstreams_form_is_plain_tcp() -> None:
    assert mqtt_settings("") is None and mqtt_settings("  ") is None
    plain = mqtt_settings("mqtt://mosquitto:8883")
    assert plain is not None and (plain.host, plain.port, plain.tls, plain.username, plain.password) == (
        "mosquitto",
        8883,
        False,
        "",
        None,
    )
    bare = mqtt_settings("broker.example.com")
    assert bare is not None and (bare.host, bare.port) == ("broker.example.com", 1883)
    assert mqtt_settings("broker:1999") is not None


def test_tls_and_credentials_from_the_url_or_the_settings() -> None:
    secure = mqtt_settings("mqtts://rps:p%40ss@broker.example.com", ca_file="/etc/ca.pem")
    assert secure is not None and (secure.port, secure.tls, secure.username, secure.ca_file) == (
        8883,
        True,
        "rps",
        "/etc/ca.pem",
    )
    assert secure.password is not None and secure.password.reveal() == "p@ss"
    assert "p@ss" not in repr(secure)
    separate = mqtt_settings("mqtts://broker", username="u", password="pw")
    assert separate is not None and separate.username == "u" and separate.password is not None


@pytest.mark.parametrize("url", ["ws://broker", "mqtt://", "mqtt://broker:99999", "http://broker"])
def test_what_cannot_work_refuses_to_start(url: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        mqtt_settings(url)
