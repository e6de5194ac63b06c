"""The CRUD / ETag / concurrency / secrets / tenant-isolation tests every admin resource shares,
one mixin per concern as netbox's APIViewTestCases (STYLE.md rule 10).

A resource's API test class says, in a few lines, where the resource lives and what a valid body
looks like, and inherits the suites that apply to it: `ApiResourceSuite` is all of them;
a resource without a version or a secret (proxy configs) inherits `CoreSuite` and leaves out
`VersionedUpdateSuite` and `SecretsSuite`.

    class TestDomainApi(ApiResourceSuite):
        url = "/api/v1/admin/domains"
        model = Domain                                  # whose permissions a portal session needs
        name_field = "profileName"
        secret_fields = {"provisioningCert": "CERT", "provisioningCertPassword": "CERT_PASSWORD"}
        not_found = "Domain profile {name} Not Found"
        duplicate = ("Unique key violation", "Domain {name} ID or Suffix already exists")
        if_match_sets_version = False                   # rest-api.md §1.6: only profiles and CIRA

        def create_body(self, name): ...
        def update_body(self, name, version): ...      # a valid PATCH changing `changed_field`
        changed_field = ("provisioningCertStorageFormat", "string")
        def vault_path(self, tenant_id, name): return domain_certificate_path(tenant_id, name)

Everything runs against the real PostgreSQL and the session's real OpenBao (`vault` fixture).
Names are unique per test because Vault outlives each test's database transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from django.db.models import Model
from rest_framework.test import APIClient

from rps_site.authentication import issue_token
from rps_site.vault import SecretStore
from tests.portal_sessions import role_session

Client = Callable[[str], APIClient]


def client_for(tenant_id: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(tenant_id=tenant_id)}")
    return client


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def response_text(response: Any) -> str:
    return response.content.decode("utf-8", "replace")


class ResourceCase:
    """What every suite needs: the subclass's description of the resource, fixtures, helpers."""

    url: ClassVar[str]
    model: ClassVar[type[Model]]
    name_field: ClassVar[str]
    # request body field -> Vault key; empty for resources without secrets
    secret_fields: ClassVar[dict[str, str]] = {}
    not_found: ClassVar[str]  # e.g. "Domain profile {name} Not Found"
    duplicate: ClassVar[tuple[str, str]]  # (error, message template with {name})
    changed_field: ClassVar[tuple[str, Any]]  # (response field, value after update_body)

    def create_body(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def update_body(self, name: str, version: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def vault_path(self, tenant_id: str, name: str) -> str | None:
        return None

    @pytest.fixture
    def clients(self, vault: SecretStore, db: None) -> Client:
        """`clients(tenant_id)`: an authenticated APIClient acting for that tenant."""
        return client_for

    @pytest.fixture
    def api(self, clients: Client) -> APIClient:
        return clients("")

    @pytest.fixture
    def created(self, api: APIClient) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        """A freshly created record: (name, request body, response body)."""
        name = unique_name()
        body = self.create_body(name)
        response = api.post(self.url, body, format="json")
        assert response.status_code == 201, response_text(response)
        yield name, body, response.json()

    def item_url(self, name: str) -> str:
        return f"{self.url}/{name}"

    def assert_no_secrets(self, response: Any, body: dict[str, Any]) -> None:
        text = response_text(response)
        for field in self.secret_fields:
            value = body.get(field)
            if isinstance(value, str) and value:
                assert value not in text, f"{field} leaked in a response"
        payload = response.json() if text else None
        records = payload if isinstance(payload, list) else (payload or {}).get("data", [payload])
        for record in records if isinstance(records, list) else [records]:
            if isinstance(record, dict):
                for field in self.secret_fields:
                    assert field not in record, f"{field} key present in a response"


class ReadSuite(ResourceCase):
    def test_create_returns_the_record_without_secrets(self, api: APIClient, created: Any) -> None:
        name, body, record = created
        assert record[self.name_field] == name
        assert record["tenantId"] == ""
        for field in self.secret_fields:
            assert field not in record

    def test_get_is_case_insensitive_and_keeps_the_stored_case(self, api: APIClient, created: Any) -> None:
        name, body, record = created
        response = api.get(self.item_url(name.upper()))
        assert response.status_code == 200
        assert response.json() == record
        self.assert_no_secrets(response, body)

    def test_unknown_name_is_404(self, api: APIClient, db: None, vault: SecretStore) -> None:
        name = unique_name("missing")
        response = api.get(self.item_url(name))
        assert response.status_code == 404
        assert response.json() == {"error": "Not Found", "message": self.not_found.format(name=name)}

    def test_etag_round_trip_gives_304_until_the_record_changes(self, api: APIClient, created: Any) -> None:
        name, _, _ = created
        first = api.get(self.item_url(name))
        etag = first["ETag"]
        assert etag
        second = api.get(self.item_url(name), HTTP_IF_NONE_MATCH=etag)
        assert second.status_code == 304 and second.content == b"" and second["ETag"] == etag
        assert api.delete(self.item_url(name)).status_code == 204
        assert api.get(self.item_url(name), HTTP_IF_NONE_MATCH=etag).status_code == 404

    def test_nul_in_the_url_is_a_400(self, api: APIClient, db: None) -> None:
        for response in (api.get(f"{self.item_url('a')}%00"), api.delete(f"{self.item_url('a')}%00b")):
            assert response.status_code == 400
            assert response.json() == {"error": "Bad Request", "message": "The URL contains a NUL character."}

    def test_unauthenticated_requests_are_401(self, db: None) -> None:
        assert APIClient().get(self.url).status_code == 401

    def test_unsupported_verbs_are_404(self, api: APIClient, db: None) -> None:
        assert api.put(self.url, {}, format="json").status_code == 404
        assert api.delete(self.url).status_code == 404
        assert api.generic("COPY", self.url).status_code == 404
        assert api.post(self.item_url("x"), {}, format="json").status_code == 404
        assert api.patch(self.item_url("x"), {}, format="json").status_code == 404


class ListSuite(ResourceCase):
    def test_list_and_count(self, api: APIClient, created: Any) -> None:
        name, body, record = created
        listed = api.get(self.url)
        assert listed.status_code == 200
        assert record in listed.json() or any(item.get(self.name_field) == name for item in listed.json())
        self.assert_no_secrets(listed, body)
        counted = api.get(self.url, {"$top": "1", "$skip": "0", "$count": "true"})
        assert counted.status_code == 200
        payload = counted.json()
        assert set(payload) == {"data", "totalCount"} and payload["totalCount"] >= 1 and len(payload["data"]) == 1
        assert api.get(self.url, {"$top": "0"}).json() == []

    def test_invalid_query_parameters_are_400_in_order(self, api: APIClient, db: None) -> None:
        response = api.get(self.url, {"$top": "ten", "$skip": "-1", "$count": "TRUE"})
        assert response.status_code == 400
        assert [error["path"] for error in response.json()["errors"]] == ["$top", "$skip", "$count"]

    def test_list_etag_round_trip_gives_304_until_the_list_changes(self, api: APIClient, created: Any) -> None:
        name, _, _ = created
        first = api.get(self.url)
        etag = first["ETag"]
        assert etag
        # upstream's suite sends the ETag of `GET /x` with `GET /x?$top=10&$skip=0`: the same body
        for query in ({}, {"$top": "10", "$skip": "0"}):
            again = api.get(self.url, query, HTTP_IF_NONE_MATCH=etag)
            assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
        assert api.get(self.url, {"$count": "true"}, HTTP_IF_NONE_MATCH=etag).status_code == 200
        api.post(self.url, self.create_body(unique_name()), format="json")
        changed = api.get(self.url, HTTP_IF_NONE_MATCH=etag)
        assert changed.status_code == 200 and changed["ETag"] != etag


class CreateSuite(ResourceCase):
    def test_duplicate_name_in_another_case_is_400(self, api: APIClient, created: Any) -> None:
        name, body, _ = created
        again = self.create_body(name)
        again[self.name_field] = name.upper()
        response = api.post(self.url, again, format="json")
        assert response.status_code == 400, response_text(response)
        error, message = self.duplicate
        assert response.json() == {"error": error, "message": message.format(name=name.upper())}
        self.assert_no_secrets(response, again)

    def test_garbage_bodies_are_a_clear_400(self, api: APIClient, db: None, vault: SecretStore) -> None:
        for payload in ("[1, 2]", '"text"', "{not json", "42"):
            response = api.generic("POST", self.url, payload, content_type="application/json")
            assert response.status_code == 400, payload
            assert "error" in response.json() or "errors" in response.json()
        empty = api.post(self.url, {}, format="json")
        assert empty.status_code == 400 and empty.json()["errors"]

    def test_every_field_refuses_an_object_or_a_list_and_nothing_is_stored(
        self, api: APIClient, vault: SecretStore
    ) -> None:
        """Issue #11 finding 6: upstream's String() would store `{...}` as "[object Object]"."""
        name = unique_name()
        for field, good in self.create_body(name).items():
            for bad in ({"x": "y"}, [{"x": "y"}]) if not isinstance(good, list) else ({"x": "y"}, [[1]]):
                body = {**self.create_body(name), field: bad}
                response = api.post(self.url, body, format="json")
                assert response.status_code == 400, (field, response_text(response))
                errors = response.json()["errors"]
                assert errors and all(" must be " in error["msg"] for error in errors), (field, errors)
                assert errors[0]["path"].startswith(field)
                assert "value" not in errors[0]
        assert api.get(self.item_url(name)).status_code == 404
        path = self.vault_path("", name)
        assert path is None or vault.read(path) is None

    def test_validation_errors_never_echo_secrets(self, api: APIClient, db: None, vault: SecretStore) -> None:
        body = self.create_body(unique_name())
        body[self.name_field] = "bad name!"
        response = api.post(self.url, json.loads(json.dumps(body)), format="json")
        assert response.status_code == 400
        for error in response.json()["errors"]:
            if error["path"] in self.secret_fields:
                assert "value" not in error
        self.assert_no_secrets(response, body)


class UpdateSuite(ResourceCase):
    def test_update_changes_the_record(self, api: APIClient, created: Any) -> None:
        name, body, record = created
        response = api.patch(self.url, self.update_body(name.upper(), record.get("version")), format="json")
        assert response.status_code == 200, response_text(response)
        updated = response.json()
        field, value = self.changed_field
        assert updated[field] == value
        assert updated[self.name_field] == name
        self.assert_no_secrets(response, body)
        current = api.get(self.item_url(name)).json()
        assert {key: current[key] for key in updated} == updated

    def test_update_of_an_unknown_name_is_404(self, api: APIClient, db: None, vault: SecretStore) -> None:
        name = unique_name("missing")
        patched = api.patch(self.url, self.update_body(name, "1000"), format="json")
        assert patched.status_code == 404, response_text(patched)
        assert patched.json() == {"error": "Not Found", "message": self.not_found.format(name=name)}


class VersionedUpdateSuite(ResourceCase):
    """rest-api.md §1.6: a version per record, 409/412 with the current record when stale."""

    # Whether an If-Match header replaces the body's version (profiles and CIRA); elsewhere it only
    # turns a 409 into a 412.
    if_match_sets_version: ClassVar[bool]

    def test_every_write_answers_a_new_version(self, api: APIClient, created: Any) -> None:
        name, _, record = created
        assert isinstance(record["version"], str) and record["version"].isdigit()
        updated = api.patch(self.url, self.update_body(name, record["version"]), format="json").json()
        assert updated["version"].isdigit() and updated["version"] != record["version"]

    def test_a_stale_version_is_409_or_412_with_the_current_record(self, api: APIClient, created: Any) -> None:
        name, body, _ = created
        read = api.get(self.item_url(name)).json()["version"]
        assert api.patch(self.url, self.update_body(name, read), format="json").status_code == 200
        current = api.get(self.item_url(name)).json()
        assert current["version"] != read
        for headers, status in (({}, 409), ({"HTTP_IF_MATCH": read}, 412)):
            stale = api.patch(self.url, self.update_body(name, read), format="json", **headers)
            assert stale.status_code == status, response_text(stale)
            assert stale["ETag"] == current["version"]
            assert stale.json() == current
            self.assert_no_secrets(stale, body)
        assert api.get(self.item_url(name)).json() == current

    def test_if_match_replaces_the_body_version_only_where_upstream_does(self, api: APIClient, created: Any) -> None:
        name, _, record = created
        current, stale = record["version"], str(int(record["version"]) - 1)
        header_current = api.patch(self.url, self.update_body(name, stale), format="json", HTTP_IF_MATCH=current)
        assert header_current.status_code == (200 if self.if_match_sets_version else 412), response_text(header_current)
        now = api.get(self.item_url(name)).json()["version"]
        header_stale = api.patch(self.url, self.update_body(name, now), format="json", HTTP_IF_MATCH=stale)
        assert header_stale.status_code == (412 if self.if_match_sets_version else 200), response_text(header_stale)


class DeleteSuite(ResourceCase):
    def test_delete_removes_the_record(self, api: APIClient, created: Any) -> None:
        name, _, _ = created
        response = api.delete(self.item_url(name.upper()))
        assert response.status_code == 204 and response.content == b""
        assert api.get(self.item_url(name)).status_code == 404

    def test_delete_of_an_unknown_name_is_404(self, api: APIClient, db: None, vault: SecretStore) -> None:
        name = unique_name("missing")
        response = api.delete(self.item_url(name))
        assert response.status_code == 404
        assert response.json() == {"error": "Not Found", "message": self.not_found.format(name=name)}


class SecretsSuite(ResourceCase):
    """Secrets live in Vault at the documented path, per tenant, and only there."""

    def test_secrets_are_in_vault_at_the_documented_path(self, created: Any, vault: SecretStore) -> None:
        name, body, _ = created
        path = self.vault_path("", name)
        assert path is not None
        stored = vault.read(path)
        assert stored is not None
        for field, key in self.secret_fields.items():
            if body.get(field):
                assert stored.values[key].reveal() == body[field]

    @pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
    def test_delete_destroys_the_secret(self, api: APIClient, created: Any, vault: SecretStore) -> None:
        name, _, _ = created
        path = self.vault_path("", name)
        assert path is not None and vault.read(path) is not None
        assert api.delete(self.item_url(name)).status_code == 204
        assert vault.read(path) is None

    @pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
    def test_each_tenant_has_its_own_secret(self, clients: Client, vault: SecretStore) -> None:
        alice, bob = clients("tenant-a"), clients("tenant-b")
        name = unique_name()
        assert alice.post(self.url, self.create_body(name), format="json").status_code == 201
        assert bob.post(self.url, self.create_body(name), format="json").status_code == 201
        alice_path, bob_path = self.vault_path("tenant-a", name), self.vault_path("tenant-b", name)
        assert alice_path and bob_path
        assert alice_path.startswith("tenants/tenant-a/") and bob_path.startswith("tenants/tenant-b/")
        assert vault.read(alice_path) is not None and vault.read(bob_path) is not None
        assert vault.read(self.vault_path("", name) or "") is None
        assert alice.delete(self.item_url(name)).status_code == 204
        assert vault.read(alice_path) is None and vault.read(bob_path) is not None

    def test_vault_unavailable_is_503_and_nothing_is_written(
        self, api: APIClient, vault: SecretStore, settings: Any
    ) -> None:
        from rps_site.openbao_dev import start_dev_vault
        from rps_site.vault import secret_store

        own = start_dev_vault()
        try:
            settings.VAULT_ADDR, settings.VAULT_TOKEN = own.addr, own.root_token
            secret_store.cache_clear()
            own.stop()
            name = unique_name()
            response = api.post(self.url, self.create_body(name), format="json")
            assert response.status_code == 503, response_text(response)
            assert set(response.json()) == {"error", "message"}
            assert api.get(self.item_url(name)).status_code == 404
        finally:
            own.stop()
            secret_store.cache_clear()

    def test_vault_unavailable_on_delete_is_503_and_keeps_the_record(
        self, api: APIClient, created: Any, settings: Any
    ) -> None:
        from rps_site.openbao_dev import start_dev_vault
        from rps_site.vault import secret_store

        name, _, record = created
        own = start_dev_vault()
        try:
            settings.VAULT_ADDR, settings.VAULT_TOKEN = own.addr, own.root_token
            secret_store.cache_clear()
            own.stop()
            assert api.delete(self.item_url(name)).status_code == 503
        finally:
            own.stop()
            secret_store.cache_clear()
        assert api.get(self.item_url(name)).status_code == 200


class TenantIsolationSuite(ResourceCase):
    @pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
    def test_tenants_are_isolated(self, clients: Client, vault: SecretStore) -> None:
        alice, bob = clients("tenant-a"), clients("tenant-b")
        name = unique_name()
        alice_body = self.create_body(name)
        alice_body["tenantId"] = "tenant-b"  # a body never chooses the tenant
        created = alice.post(self.url, alice_body, format="json")
        assert created.status_code == 201, response_text(created)
        assert created.json()["tenantId"] == "tenant-a"
        assert bob.get(self.item_url(name)).status_code == 404
        assert all(item[self.name_field] != name for item in bob.get(self.url).json())
        assert (
            bob.patch(self.url, self.update_body(name, created.json().get("version")), format="json").status_code == 404
        )
        assert bob.delete(self.item_url(name)).status_code == 404
        # the same name in another tenant is another record
        assert bob.post(self.url, self.create_body(name), format="json").status_code == 201
        assert alice.delete(self.item_url(name)).status_code == 204
        assert bob.get(self.item_url(name)).status_code == 200

    def test_a_portal_session_acts_for_its_own_tenant(self, api: APIClient, created: Any, vault: SecretStore) -> None:
        name, _, _ = created
        tenant_id = unique_name("tenant")
        session = role_session(self.model, "full", tenant_id=tenant_id)
        assert session.get(self.item_url(name)).status_code == 404
        assert name not in response_text(session.get(self.url))
        own = unique_name()
        response = session.post(self.url, {**self.create_body(own), "tenantId": ""}, format="json")
        assert response.status_code == 201, response_text(response)
        assert response.json()["tenantId"] == tenant_id
        assert api.get(self.item_url(own)).status_code == 404
        assert session.delete(self.item_url(own)).status_code == 204


class PermissionSuite(ResourceCase):
    def test_portal_sessions_get_what_their_model_permissions_allow(
        self, api: APIClient, created: Any, vault: SecretStore
    ) -> None:
        """SECURITY check 24: the API asks a session for the permissions the portal would."""
        name, body, record = created
        new_name = unique_name()
        app, model = self.model._meta.app_label, self.model._meta.model_name

        def writes(session: APIClient) -> list[Any]:
            return [
                session.post(self.url, self.create_body(new_name), format="json"),
                session.patch(self.url, self.update_body(name, record.get("version")), format="json"),
                session.delete(self.item_url(name)),
            ]

        nothing, viewer = role_session(self.model, "nothing"), role_session(self.model, "view")
        for response in (nothing.get(self.url), nothing.get(self.item_url(name)), *writes(nothing)):
            assert response.status_code == 403, response_text(response)
            assert response.json()["error"] == "Forbidden"
        assert nothing.get(self.url).json()["message"] == f"This request needs the {app}.view_{model} permission."
        assert viewer.get(self.url).status_code == 200
        assert viewer.get(self.item_url(name)).json() == record
        refused = writes(viewer)
        assert [response.status_code for response in refused] == [403, 403, 403]
        assert [response.json()["message"] for response in refused] == [
            f"This request needs the {app}.{action}_{model} permission." for action in ("add", "change", "delete")
        ]
        assert api.get(self.item_url(name)).json() == record, "a refused write changed nothing"
        assert api.get(self.item_url(new_name)).status_code == 404

        full = role_session(self.model, "full")
        full.send_csrf_token = False
        forged = full.post(self.url, self.create_body(new_name), format="json")
        assert forged.status_code == 403 and "CSRF" in forged.json()["message"], "a session write needs its CSRF token"
        full.send_csrf_token = True
        assert [response.status_code for response in writes(full)] == [201, 200, 204]
        assert api.get(self.item_url(name)).status_code == 404
        assert full.delete(self.item_url(new_name)).status_code == 204


class CoreSuite(ReadSuite, ListSuite, CreateSuite, UpdateSuite, DeleteSuite, TenantIsolationSuite, PermissionSuite):
    """What every admin resource answers alike."""


class ApiResourceSuite(CoreSuite, VersionedUpdateSuite, SecretsSuite):
    """A resource with a version and secrets in Vault: every suite."""
