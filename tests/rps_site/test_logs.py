"""One log configuration: key=value text or JSON lines, structured events, secrets masked in both."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rps_site.log_masking import MaskSecretsFilter
from rps_site.logs import JsonFormatter, TextFormatter, log_event
from rps_site.sensitive import Secret
from tests.profiles.api_suite import client_for

ROOT = Path(__file__).resolve().parents[2]


def emitted(formatter: logging.Formatter, emit: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskSecretsFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"rps.test.{id(stream)}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)  # type: ignore[operator]
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def session_event(logger: logging.Logger) -> None:
    log_event(
        logger,
        "device_session",
        guid="4c4c4544-0000-0000-0000-000000000001",
        tenant="",
        outcome="failure",
        cause='Setup said "no" and amtPassword=Leaked-Value-1',
        password="Plain-Canary-2",
        secret=Secret("Secret-Canary-3"),
        duration_ms=12,
    )


def test_text_lines_are_key_value_with_quoted_values_and_masked_secrets() -> None:
    line = emitted(TextFormatter(), session_event).strip()
    head, _, rest = line.partition(" device_session ")
    _time, level, logger_name = head.split(" ")
    assert level == "INFO" and logger_name.startswith("rps.test.")
    assert rest.startswith('guid=4c4c4544-0000-0000-0000-000000000001 tenant=- outcome=failure cause="Setup said')
    assert "duration_ms=12" in rest
    for canary in ("Leaked-Value-1", "Plain-Canary-2", "Secret-Canary-3"):
        assert canary not in line
    assert "\n" not in line


def test_json_lines_carry_the_fields_and_mask_secrets_too() -> None:
    document = json.loads(emitted(JsonFormatter(), session_event))
    assert document["event"] == "device_session" and document["level"] == "INFO"
    assert document["guid"] == "4c4c4544-0000-0000-0000-000000000001" and document["duration_ms"] == 12
    assert document["time"].endswith("Z")
    text = json.dumps(document)
    for canary in ("Leaked-Value-1", "Plain-Canary-2", "Secret-Canary-3"):
        assert canary not in text


def test_json_plain_records_and_exceptions_stay_one_document() -> None:
    def fail(logger: logging.Logger) -> None:
        try:
            raise ValueError("Authorization: Bearer abc.def.ghi")
        except ValueError:
            logger.exception("it broke with token=%s", "Canary-Token-4")

    document = json.loads(emitted(JsonFormatter(), fail))
    assert document["message"].startswith("it broke with token=") and "Canary-Token-4" not in document["message"]
    assert "ValueError" in document["exception"]


def run_manage(*arguments: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RPS_")}
    environment.update({"RPS_DEBUG": "true", "DJANGO_SETTINGS_MODULE": "rps_site.settings", **overrides})
    return subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_an_unknown_log_format_is_refused_in_one_line() -> None:
    result = run_manage("check", RPS_LOG_FORMAT="yaml")
    assert result.returncode == 1
    assert result.stderr.strip() == "rps-django: RPS_LOG_FORMAT must be text or json"


def test_json_format_reaches_the_server_configuration() -> None:
    code = "import logging, django; django.setup(); logging.getLogger('rps.probe').warning('hello %s', 'there')"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RPS_")}
    environment.update({"RPS_DEBUG": "true", "DJANGO_SETTINGS_MODULE": "rps_site.settings", "RPS_LOG_FORMAT": "json"})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert json.loads(line)["message"] == "hello there" and json.loads(line)["logger"] == "rps.probe"


@pytest.mark.django_db
def test_each_api_write_is_one_line_with_who_tenant_resource_action_and_status(
    vault: object, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"profileName": "logged", "activation": "ccmactivate", "generateRandomPassword": True, "dhcpEnabled": True}
    client = client_for("acme")
    with caplog.at_level(logging.INFO, logger="rps.api"):
        assert client.post("/api/v1/admin/profiles", body, format="json").status_code == 201
        assert client.delete("/api/v1/admin/profiles/logged").status_code == 204
        client.get("/api/v1/admin/profiles")  # a read is not logged
        client.credentials()
        assert client.post("/api/v1/admin/profiles", body, format="json").status_code == 401
    writes = [record.fields for record in caplog.records if getattr(record, "event", "") == "api_write"]  # type: ignore[attr-defined]
    assert [(w["action"], w["resource"], w["name"], w["status"]) for w in writes] == [
        ("create", "profiles", "", 201),
        ("delete", "profiles", "logged", 204),
        ("create", "profiles", "", 401),
    ]
    assert writes[0]["who"] == "bearer:rps" and writes[0]["tenant"] == "acme"
    assert writes[2]["who"] == "anonymous"
