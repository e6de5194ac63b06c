"""Cached profile reads never serve a stale body: every write changes what the next read sees."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from profiles.api.resource import rendered_records
from tests.profiles.api_suite import client_for
from tests.profiles.factories import ccm_profile_body, wireless_body

pytestmark = pytest.mark.django_db(transaction=True)


def names(client: APIClient) -> list[str]:
    return [item["profileName"] for item in client.get("/api/v1/admin/profiles?$top=100").json()]


def test_every_write_is_visible_to_the_next_read(vault) -> None:  # type: ignore[no-untyped-def]
    rendered_records.clear()
    tenant = f"t{uuid.uuid4().hex[:8]}"
    api = client_for(tenant)
    assert names(api) == []
    created = api.post("/api/v1/admin/profiles", ccm_profile_body("alpha", tags=["one"]), format="json").json()
    assert names(api) == ["alpha"]
    assert api.get("/api/v1/admin/profiles/ALPHA").json()["tags"] == ["one"]

    # An update (tags and a Wi-Fi link) shows at once in the list and the record.
    api.post("/api/v1/admin/wirelessconfigs", wireless_body("wifi1"), format="json")
    body = {**{k: v for k, v in created.items() if k != "tenantId"}, "tags": ["two"]}
    body["wifiConfigs"] = [{"profileName": "wifi1", "priority": 1}]
    assert api.patch("/api/v1/admin/profiles", body, format="json").status_code == 200
    record = api.get("/api/v1/admin/profiles/alpha").json()
    assert record["tags"] == ["two"] and record["wifiConfigs"] == [{"priority": 1, "profileName": "wifi1"}]
    listed = api.get("/api/v1/admin/profiles?$count=true").json()
    assert listed["totalCount"] == 1 and listed["data"][0]["tags"] == ["two"]

    # Another tenant's writes and reads are separate.
    other = client_for(tenant + "x")
    other.post("/api/v1/admin/profiles", ccm_profile_body("alpha"), format="json")
    assert names(other) == ["alpha"] and names(api) == ["alpha"]
    assert other.get("/api/v1/admin/profiles/alpha").json()["tags"] is None

    # Delete, then re-create with the same name: neither read serves the old body.
    assert api.delete("/api/v1/admin/profiles/alpha").status_code == 204
    assert names(api) == []
    assert api.get("/api/v1/admin/profiles/alpha").status_code == 404
    api.post("/api/v1/admin/profiles", ccm_profile_body("alpha", tags=["three"]), format="json")
    assert api.get("/api/v1/admin/profiles/alpha").json()["tags"] == ["three"]
    assert api.get("/api/v1/admin/profiles?$top=1&$skip=1").json() == []
