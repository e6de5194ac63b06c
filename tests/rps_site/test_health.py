"""Finding 9: health names the failing part with 503 (statuses only), against real components."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from rps_site.openbao_dev import DevVault, free_port, start_dev_vault
from rps_site.serving import local_server_environment
from rps_site.vault import secret_store

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/admin/health"
HEALTHY_VAULT = {"initialized": True, "sealed": False, "standby": False}


@pytest.fixture
def health_with_token(settings, db: None):  # type: ignore[no-untyped-def]
    """GET health with the server's Vault credential set to `token` at `addr`."""

    def get(addr: str, token: str) -> tuple[int, dict[str, object]]:
        settings.VAULT_ADDR, settings.VAULT_TOKEN, settings.VAULT_TIMEOUT_SECONDS = addr, token, 2
        secret_store.cache_clear()
        try:
            response = APIClient().get(URL)
        finally:
            secret_store.cache_clear()
        assert token not in response.content.decode() and addr not in response.content.decode()
        return response.status_code, response.json()

    return get


def test_healthy_is_200_with_upstreams_shape(dev_vault: DevVault, health_with_token) -> None:  # type: ignore[no-untyped-def]
    assert health_with_token(dev_vault.addr, dev_vault.rps_token()) == (
        200,
        {"db": {"name": "POSTGRES", "status": "OK"}, "secretStore": {"name": "VAULT", "status": HEALTHY_VAULT}},
    )


@pytest.mark.parametrize(
    ("credential", "status"),
    [("invalid", "forbidden token"), ("revoked", "forbidden token"), ("read-only", "token lacks capabilities")],
)
def test_a_token_vault_refuses_is_503_naming_it(  # type: ignore[no-untyped-def]
    dev_vault: DevVault, health_with_token, credential: str, status: str
) -> None:
    """Formerly 200: sys/health needs no token, so a dead token went unnoticed."""
    client = dev_vault.root_client()
    if credential == "invalid":
        token = "s.invalid-token-for-health"
    elif credential == "revoked":
        token = dev_vault.rps_token()
        client.auth.token.revoke(token)
    else:
        client.sys.create_or_update_policy("rps-read-only", 'path "secret/data/*" { capabilities = ["read"] }')
        token = client.auth.token.create(policies=["rps-read-only"])["auth"]["client_token"]
    assert health_with_token(dev_vault.addr, token) == (
        503,
        {"db": {"name": "POSTGRES", "status": "OK"}, "secretStore": {"name": "VAULT", "status": status}},
    )


@pytest.fixture
def sealed_vault() -> Iterator[DevVault]:
    vault = start_dev_vault()
    vault.root_client().sys.seal()
    yield vault
    vault.stop()


def test_a_sealed_vault_is_503_naming_it(sealed_vault: DevVault, health_with_token) -> None:  # type: ignore[no-untyped-def]
    status, body = health_with_token(sealed_vault.addr, sealed_vault.root_token)
    assert (status, body["secretStore"]) == (503, {"name": "VAULT", "status": "sealed"})


def test_an_unreachable_database_is_503_naming_it(dev_vault: DevVault) -> None:
    """A production process whose database does not answer (nothing listens on its port)."""
    environment = local_server_environment(
        vault_addr=dev_vault.addr,
        vault_token=dev_vault.rps_token(),
        database_url=f"postgres://postgres@127.0.0.1:{free_port()}/rps",
        RPS_DB_POOL="false",  # with the pool the answer is the same, after its 10 s wait
        RPS_SECURE_SSL_REDIRECT="false",
    )
    code = (
        "import django, json; django.setup(); from django.test import Client; "
        f"r = Client().get('{URL}', HTTP_HOST='localhost'); print(r.status_code, r.content.decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert (int(status), json.loads(body)) == (
        503,
        {
            "db": {"name": "POSTGRES", "status": "unreachable"},
            "secretStore": {"name": "VAULT", "status": HEALTHY_VAULT},
        },
    )
    assert "127.0.0.1" not in body  # no address, no database name
