"""The resource base: every resource's reads come from the fingerprint cache, a list answers
If-None-Match before reading a row, and a body rendered while a write landed is not kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from profiles.api.resource import rendered_records
from rps_site.api.rendered_cache import RenderedCache
from rps_site.vault import SecretStore
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import (
    ccm_profile_body,
    cira_body,
    domain_body,
    ieee8021x_body,
    proxy_body,
    wireless_body,
)

RESOURCES: dict[str, Callable[[str], dict[str, Any]]] = {
    "domains": domain_body,
    "ciraconfigs": cira_body,
    "wirelessconfigs": wireless_body,
    "ieee8021xconfigs": ieee8021x_body,
    "proxyconfigs": proxy_body,
    "profiles": ccm_profile_body,
}


@pytest.fixture
def api(vault: SecretStore, db: None) -> APIClient:
    rendered_records.clear()
    return client_for(unique_name("tenant"))


def queries(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as captured:
        result = call(*args, **kwargs)
    return result, len(captured.captured_queries)


@pytest.mark.parametrize("route", RESOURCES)
def test_a_repeated_read_is_one_aggregate_query(api: APIClient, route: str) -> None:
    url = f"/api/v1/admin/{route}"
    name = unique_name()
    assert api.post(url, RESOURCES[route](name), format="json").status_code == 201
    for path in (url, f"{url}/{name}"):
        first, _ = queries(api.get, path)
        again, count = queries(api.get, path)
        assert again.status_code == 200 and again.content == first.content
        assert count == 1, f"{path}: a cached read costs the fingerprint only"


@pytest.mark.parametrize("route", RESOURCES)
def test_a_list_answers_if_none_match_before_reading_a_row(api: APIClient, route: str) -> None:
    url = f"/api/v1/admin/{route}"
    assert api.post(url, RESOURCES[route](unique_name()), format="json").status_code == 201
    etag = api.get(url)["ETag"]
    rendered_records.clear()  # nothing cached: only the fingerprint can answer
    response, count = queries(api.get, url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304 and response["ETag"] == etag
    assert count == 1


def test_another_tenants_etag_never_answers_304(vault: SecretStore, db: None) -> None:
    alice, bob = client_for(unique_name("tenant")), client_for(unique_name("tenant"))
    for client in (alice, bob):  # the same name and body in both tenants
        assert client.post("/api/v1/admin/proxyconfigs", proxy_body("p1"), format="json").status_code == 201
    for path in ("/api/v1/admin/proxyconfigs", "/api/v1/admin/proxyconfigs/p1"):
        alice_tag = alice.get(path)["ETag"]
        answer = bob.get(path, HTTP_IF_NONE_MATCH=alice_tag)
        assert answer.status_code == 200 and answer.json() != alice.get(path).json()  # tenantId differs


def test_a_body_rendered_while_the_state_moved_is_served_but_not_kept() -> None:
    cache = RenderedCache()
    renders: list[int] = []

    def render() -> bytes:
        renders.append(1)
        return b"[]"

    assert cache.get_or_render("key", render, still_current=lambda: False) == (b"[]", False)
    assert cache.get_or_render("key", render, still_current=lambda: True) == (b"[]", True)
    assert cache.get_or_render("key", render, still_current=lambda: False) == (b"[]", True)  # kept from the second
    assert len(renders) == 2
