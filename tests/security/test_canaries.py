"""SECURITY.md checks 1-3: secret canaries never reach the database, a response or a log line.

Every secret-bearing resource is created and then updated through the API with unique random
values; then a `pg_dump --data-only` of the database (admin log and sessions included), every
response body and every log record at DEBUG are searched for each canary and its base64 form,
and Vault is checked to hold each one at its documented path.
"""

from __future__ import annotations

import base64
import logging
import secrets
import subprocess

import pytest
from django.db import connection
from rest_framework.test import APIClient

from rps_site.authentication import issue_token
from rps_site.vault import (
    SecretStore,
    cira_config_path,
    domain_certificate_path,
    ieee8021x_config_path,
    profile_passwords_path,
    wireless_config_path,
)
from tests.profiles.factories import PFX_PASSWORD, cira_body, domain_body, ieee8021x_body, wireless_body


def canary(prefix: str = "Cn") -> str:
    # Satisfies AMT's password rule (upper, lower, digit, one of !@#$%^*) so profiles accept it.
    return f"{prefix}{secrets.token_hex(6)}!Zq9"


def forms(value: str) -> list[str]:
    return [value, base64.b64encode(value.encode()).decode()]


@pytest.mark.django_db(transaction=True)
def test_no_canary_in_database_responses_or_logs(vault: SecretStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(tenant_id='')}")
    suffix = secrets.token_hex(4)
    names = {kind: f"{kind}{suffix}" for kind in ("dom", "cira", "wifi", "dot1x", "prof")}
    canaries: dict[str, str] = {}
    responses: list[str] = []

    def call(method: str, url: str, body: dict) -> dict:
        response = getattr(client, method)(url, body, format="json")
        responses.append(response.content.decode())
        assert response.status_code in (200, 201), response.content
        return response.json()

    # Create, with canaries everywhere a secret goes.
    canaries["cira"] = canary()
    call("post", "/api/v1/admin/ciraconfigs", cira_body(names["cira"], password=canaries["cira"]))
    canaries["psk"] = canary("Psk")
    call("post", "/api/v1/admin/wirelessconfigs", wireless_body(names["wifi"], pskPassphrase=canaries["psk"]))
    canaries["dot1x"] = canary("Eap")
    call("post", "/api/v1/admin/ieee8021xconfigs", ieee8021x_body(names["dot1x"], password=canaries["dot1x"]))
    domain = call("post", "/api/v1/admin/domains", domain_body(names["dom"]))
    canaries["amt"], canaries["mebx"] = canary("Amt"), canary("Mbx")
    profile = call(
        "post",
        "/api/v1/admin/profiles",
        {
            "profileName": names["prof"],
            "activation": "acmactivate",
            "generateRandomPassword": False,
            "amtPassword": canaries["amt"],
            "generateRandomMEBxPassword": False,
            "mebxPassword": canaries["mebx"],
            "dhcpEnabled": True,
        },
    )

    # Update each with new canaries.
    cira = client.get(f"/api/v1/admin/ciraconfigs/{names['cira']}").json()
    canaries["cira2"] = canary()
    call("patch", "/api/v1/admin/ciraconfigs", {**cira, "password": canaries["cira2"]})
    wifi = client.get(f"/api/v1/admin/wirelessconfigs/{names['wifi']}").json()
    canaries["psk2"] = canary("Psk")
    call("patch", "/api/v1/admin/wirelessconfigs", {**wifi, "pskPassphrase": canaries["psk2"]})
    dot1x = client.get(f"/api/v1/admin/ieee8021xconfigs/{names['dot1x']}").json()
    canaries["dot1x2"] = canary("Eap")
    call("patch", "/api/v1/admin/ieee8021xconfigs", {**dot1x, "password": canaries["dot1x2"]})
    canaries["amt2"] = canary("Amt")
    call(
        "patch",
        "/api/v1/admin/profiles",
        {
            **{k: v for k, v in profile.items() if k != "tenantId"},
            "amtPassword": canaries["amt2"],
            "mebxPassword": canaries["mebx"],
        },
    )
    # A rejected update must not echo the secret either.
    rejected = client.patch(
        "/api/v1/admin/profiles", {**profile, "amtPassword": "weak" + canaries["amt"][:3]}, format="json"
    )
    responses.append(rejected.content.decode())

    # Vault holds the latest values at the documented paths.
    def stored(path: str, key: str) -> str:
        secret = vault.read(path)
        assert secret is not None, path
        return secret.values[key].reveal()

    assert stored(cira_config_path("", names["cira"]), "MPS_PASSWORD") == canaries["cira2"]
    assert stored(wireless_config_path("", names["wifi"]), "PSK_PASSPHRASE") == canaries["psk2"]
    assert stored(ieee8021x_config_path("", names["dot1x"]), "PASSWORD") == canaries["dot1x2"]
    assert stored(profile_passwords_path("", names["prof"]), "AMT_PASSWORD") == canaries["amt2"]
    assert stored(profile_passwords_path("", names["prof"]), "MEBX_PASSWORD") == canaries["mebx"]
    assert stored(domain_certificate_path("", domain["profileName"]), "CERT_PASSWORD") == PFX_PASSWORD

    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", connection.settings_dict["NAME"]],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert names["prof"] in dump, "the dump must contain the rows it is searched for"
    log_text = "\n".join(f"{record.getMessage()} {record.args!r}" for record in caplog.records)
    everything = {"database": dump, "responses": "\n".join(responses), "logs": log_text}
    for label, value in canaries.items():
        for form in forms(value):
            for where, text in everything.items():
                assert form not in text, f"canary {label} found in {where}"
    assert PFX_PASSWORD not in dump and PFX_PASSWORD not in everything["responses"]
