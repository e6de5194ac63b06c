"""The OpenAPI document generates and is served at /api/schema, docs at /api/docs."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from rps_site.authentication import issue_token


@pytest.mark.django_db
def test_schema_and_docs_are_served() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(tenant_id='')}")
    schema = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/admin/version" in schema.content.decode()
    assert client.get("/api/docs").status_code == 200


@pytest.mark.django_db
def test_schema_generates_without_warnings_and_declares_the_bearer_token() -> None:
    """`spectacular --validate --fail-on-warn`: every view resolves, operation ids are unique,
    and the MPS-format JWT is a declared security scheme."""
    import json
    from io import StringIO

    from django.core.management import call_command

    output = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=output)
    document = json.loads(output.getvalue())
    assert document["components"]["securitySchemes"]["mpsJwt"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token in the format MPS issues: HS256 with RPS_JWT_SECRET, `iss`, `exp`, `tenantId`.",
    }
    assert {"/api/v1/admin/health/", "/api/v1/admin/devices/{guid}/"} <= set(document["paths"])
