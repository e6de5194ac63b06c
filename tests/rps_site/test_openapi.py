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
