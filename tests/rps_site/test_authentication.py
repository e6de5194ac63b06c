"""Every admin endpoint needs a session or an MPS-format bearer token; health and version need none."""

from __future__ import annotations

import base64
import json
import time
from io import StringIO

import jwt
import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from rps_site.authentication import decode_token, issue_token
from tests.portal_sessions import permissions_of, portal_session

ADMIN_URL = "/api/v1/admin/"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def signed(claims: dict, key: str | None = None) -> str:
    return jwt.encode(claims, key or settings.JWT_SECRET, algorithm="HS256")


def valid_claims(**overrides: object) -> dict:
    claims = {"tenantId": "", "iss": settings.JWT_ISSUER, "exp": int(time.time()) + 60}
    claims.update(overrides)
    return claims


def unsigned_alg_none(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.django_db
def test_no_credentials_is_401_with_an_error_body() -> None:
    response = APIClient().get(ADMIN_URL)
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: signed(valid_claims(exp=int(time.time()) - 10)), id="expired"),
        pytest.param(lambda: signed(valid_claims(iss="someone-else")), id="wrong-issuer"),
        pytest.param(lambda: signed(valid_claims(), key="a-different-key-of-sufficient-length-123"), id="wrong-key"),
        pytest.param(lambda: unsigned_alg_none(valid_claims()), id="alg-none"),
        pytest.param(lambda: signed({"tenantId": "", "iss": settings.JWT_ISSUER}), id="no-exp"),
        pytest.param(lambda: signed(valid_claims(tenantId=["a"])), id="tenant-not-a-string"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
    ],
)
def test_bad_tokens_are_401(token) -> None:  # type: ignore[no-untyped-def]
    response = bearer(token()).get(ADMIN_URL)
    assert response.status_code == 401, response.content


@pytest.mark.django_db
def test_mps_format_token_is_accepted_and_carries_the_tenant() -> None:
    token = signed(valid_claims(tenantId="acme"))
    assert decode_token(token).tenant_id == "acme"
    response = bearer(token).get(ADMIN_URL)
    assert response.status_code == 200
    assert response.json() == {"message": "admin path. use admin/profiles"}


@pytest.mark.django_db
def test_session_login_is_accepted(django_user_model) -> None:  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_superuser(username="portal", password="Portal-Pass-123")
    client = APIClient()
    client.force_login(user)
    assert client.get(ADMIN_URL).status_code == 200


@pytest.mark.django_db
def test_an_endpoint_without_a_model_is_closed_to_staff_sessions() -> None:
    """A view that names no model (here the admin root) is for bearer tokens and superusers only."""
    response = portal_session().get(ADMIN_URL)
    assert response.status_code == 403
    assert response.json() == {
        "error": "Forbidden",
        "message": "This endpoint is open to bearer tokens and portal superusers only.",
    }


@pytest.mark.django_db
def test_a_session_of_a_user_no_longer_staff_or_active_is_refused(vault) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    from profiles.models import Profile

    session = portal_session(permissions=permissions_of(Profile, ["view"]))
    assert session.get("/api/v1/admin/profiles").status_code == 200
    user = get_user_model().objects.get(pk=session.session["_auth_user_id"])
    user.is_staff = False
    user.save()
    assert session.get("/api/v1/admin/profiles").status_code == 403


@pytest.mark.django_db
def test_health_and_version_need_no_credentials_and_ignore_expired_ones(vault) -> None:  # type: ignore[no-untyped-def]
    expired = signed(valid_claims(exp=int(time.time()) - 10))
    for client in (APIClient(), bearer(expired)):
        version = client.get("/api/v1/admin/version")
        assert version.status_code == 200
        assert version.json() == {"serviceVersion": "2.40.0", "protocolVersion": "4.0.0"}
        health = client.get("/api/v1/admin/health")
        assert health.status_code == 200, health.content
        body = health.json()
        assert body["db"] == {"name": "POSTGRES", "status": "OK"}
        assert body["secretStore"]["status"]["initialized"] is True
        assert body["secretStore"]["status"]["sealed"] is False
        assert "version" not in body["secretStore"]["status"]


@pytest.mark.django_db
def test_unknown_routes_and_verbs_are_404_not_405() -> None:
    client = bearer(issue_token(tenant_id=""))
    assert client.get("/api/v1/admin/nothing-here").status_code == 404
    assert client.put(ADMIN_URL).status_code == 404


def test_rps_token_command_prints_a_valid_token() -> None:
    out = StringIO()
    call_command("rps_token", "--tenant", "t1", stdout=out)
    assert decode_token(out.getvalue().strip()).tenant_id == "t1"


@pytest.mark.django_db
def test_health_is_503_with_vault_stopped_and_shares_no_details(settings) -> None:  # type: ignore[no-untyped-def]
    from rps_site.openbao_dev import start_dev_vault
    from rps_site.vault import secret_store

    stopped = start_dev_vault()
    stopped.stop()
    settings.VAULT_ADDR, settings.VAULT_TOKEN, settings.VAULT_TIMEOUT_SECONDS = stopped.addr, stopped.root_token, 1
    secret_store.cache_clear()
    try:
        response = APIClient().get("/api/v1/admin/health")
    finally:
        secret_store.cache_clear()
    assert response.status_code == 503
    assert response.json() == {
        "db": {"name": "POSTGRES", "status": "OK"},
        "secretStore": {"name": "VAULT", "status": "unreachable"},
    }
    assert stopped.addr not in response.content.decode()


@pytest.mark.django_db
def test_head_is_answered_like_get_on_the_site_endpoints() -> None:
    response = APIClient().head("/api/v1/admin/version")
    assert response.status_code == 200
