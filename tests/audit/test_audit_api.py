"""`GET /api/v1/admin/audit`: tenant-scoped, paged with $top/$skip/$count, filtered; read-only.
The portal's list is read-only and tenant-scoped too."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from tests.audit.test_audit_trail import portal_user
from tests.portal_sessions import role_session
from tests.profiles.api_suite import client_for

URL = "/api/v1/admin/audit"


def entry(tenant_id: str, name: str, action: str = "create", resource: str = "proxyconfigs") -> AuditEntry:
    return AuditEntry.objects.create(
        tenant_id=tenant_id, actor="bearer:t", via="api", resource=resource, name=name, action=action, fields=["port"]
    )


@pytest.fixture
def trail(db: None) -> None:
    for index in range(5):
        entry("acme", f"p{index}")
    entry("acme", "d1", action="delete")
    entry("acme", "g1", action="purge", resource="devices")
    entry("other", "secret-of-other")


def test_lists_the_callers_tenant_newest_first_with_paging(trail: None) -> None:
    listed = client_for("acme").get(URL).json()
    assert [item["name"] for item in listed] == ["g1", "d1", "p4", "p3", "p2", "p1", "p0"]
    assert listed[0] == {
        "at": listed[0]["at"],
        "tenantId": "acme",
        "actor": "bearer:t",
        "via": "api",
        "resource": "devices",
        "name": "g1",
        "action": "purge",
        "fields": ["port"],
        "secretFields": [],
        "detail": "",
        "clientAddress": "",
    }
    counted = client_for("acme").get(URL, {"$top": "2", "$skip": "1", "$count": "true"}).json()
    assert counted["totalCount"] == 7 and [item["name"] for item in counted["data"]] == ["d1", "p4"]
    assert "secret-of-other" not in str(client_for("acme").get(URL, {"$top": "100"}).json())
    assert client_for("").get(URL).json() == []


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"action": "delete"}, ["d1"]),
        ({"resource": "devices"}, ["g1"]),
        ({"name": "P3"}, ["p3"]),
        ({"actor": "bearer:t", "$top": "1"}, ["g1"]),
        ({"since": "2000-01-01T00:00:00Z", "action": "purge"}, ["g1"]),
        ({"until": "2000-01-01T00:00:00Z"}, []),
    ],
)
def test_filters(trail: None, query: dict[str, str], names: list[str]) -> None:
    assert [item["name"] for item in client_for("acme").get(URL, query).json()] == names


def test_bad_filters_and_paging_answer_400_and_writes_do_not_exist(trail: None) -> None:
    api = client_for("acme")
    assert api.get(URL, {"since": "yesterday"}).status_code == 400
    assert api.get(URL, {"$top": "-1"}).status_code == 400
    for method in ("post", "patch", "delete", "put"):
        assert getattr(api, method)(URL).status_code in (404, 405)
    assert AuditEntry.objects.count() == 8


def test_portal_sessions_need_the_view_permission(trail: None) -> None:
    assert role_session(AuditEntry, "nothing").get(URL).status_code == 403
    assert role_session(AuditEntry, "view").get(URL).status_code == 200


def test_the_portal_list_is_read_only_and_tenant_scoped(trail: None) -> None:
    viewer, _ = portal_user(tenant_id="acme", codenames=("view_auditentry",))
    page = viewer.get("/admin/audit/auditentry/")
    text = page.content.decode()
    assert page.status_code == 200 and "p4" in text and "secret-of-other" not in text
    filtered = viewer.get("/admin/audit/auditentry/", {"action": "delete"}).content.decode()
    assert "d1" in filtered and "p4" not in filtered
    one = AuditEntry.objects.filter(tenant_id="acme").first()
    assert one is not None
    superuser, _ = portal_user(tenant_id="", superuser=True)
    assert superuser.get("/admin/audit/auditentry/add/").status_code == 403
    assert superuser.post(f"/admin/audit/auditentry/{one.pk}/delete/", {"post": "yes"}).status_code == 403
    assert superuser.post(f"/admin/audit/auditentry/{one.pk}/change/", {"name": "x"}).status_code == 403
    assert AuditEntry.objects.get(pk=one.pk).name == one.name
