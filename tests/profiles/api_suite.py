"""One CRUD / ETag / concurrency / secrets / tenant-isolation suite for every admin resource.

A resource's API test class inherits `ApiResourceSuite` and says, in a few lines, where the
resource lives and what a valid body looks like (STYLE.md rule 10):

    class TestDomainApi(ApiResourceSuite):
        url = "/api/v1/admin/domains"
        model = Domain                                  # whose permissions a portal session needs
        name_field = "profileName"
        secret_fields = {"provisioningCert": "CERT", "provisioningCertPassword": "CERT_PASSWORD"}
        not_found = "Domain profile {name} Not Found"
        duplicate = ("Unique key violation", "Domain {name} ID or Suffix already exists")

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


class ApiResourceSuite:
    """Mixin of tests; the subclass fills in the resource description below."""

    url: ClassVar[str]
    model: ClassVar[type[Model]]
    name_field: ClassVar[str]
    # request body field -> Vault key; empty for resources without secrets
    secret_fields: ClassVar[dict[str, str]] = {}
    versioned: ClassVar[bool] = True
    not_found: ClassVar[str]  # e.g. "Domain profile {name} Not Found"
    duplicate: ClassVar[tuple[str, str]]  # (error, message template with {name})
    changed_field: ClassVar[tuple[str, Any]]  # (response field, value after update_body)

    # --- what the subclass provides ---------------------------------------------------------
    def create_body(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def update_body(self, name: str, version: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def vault_path(self, tenant_id: str, name: str) -> str | None:
        return None

    # --- fixtures -----------------------------------------------------------------------------
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

    # --- helpers ------------------------------------------------------------------------------
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

    # --- the tests ----------------------------------------------------------------------------
    def test_create_returns_the_record_without_secrets(self, api: APIClient, created: Any) -> None:
        name, body, record = created
        assert record[self.name_field] == name
        assert record["tenantId"] == ""
        if self.versioned:
            assert isinstance(record["version"], str) and record["version"].isdigit()
        for field in self.secret_fields:
            assert field not in record

    def test_get_is_case_insensitive_and_keeps_the_stored_case(self, api: APIClient, created: Any) -> None:
        name, body, record = created
        response = api.get(self.item_url(name.upper()))
        assert response.status_code == 200
        assert response.json() == record
        self.assert_no_secrets(response, body)

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

    def test_unknown_name_is_404(self, api: APIClient, db: None, vault: SecretStore) -> None:
        name = unique_name("missing")
        for response in (api.get(self.item_url(name)), api.delete(self.item_url(name))):
            assert response.status_code == 404
            assert response.json() == {"error": "Not Found", "message": self.not_found.format(name=name)}
        patched = api.patch(self.url, self.update_body(name, "1000"), format="json")
        assert patched.status_code == 404, response_text(patched)

    def test_duplicate_name_in_another_case_is_400(self, api: APIClient, created: Any) -> None:
        name, body, _ = created
        again = self.create_body(name)
        again[self.name_field] = name.upper()
        response = api.post(self.url, again, format="json")
        assert response.status_code == 400, response_text(response)
        error, message = self.duplicate
        assert response.json() == {"error": error, "message": message.format(name=name.upper())}
        self.assert_no_secrets(response, again)

    def test_update_changes_the_record_and_its_version(self, api: APIClient, created: Any) -> None:
        name, body, record = created
        response = api.patch(self.url, self.update_body(name.upper(), record.get("version")), format="json")
        assert response.status_code == 200, response_text(response)
        updated = response.json()
        field, value = self.changed_field
        assert updated[field] == value
        assert updated[self.name_field] == name
        if self.versioned:
            assert updated["version"] != record["version"]
        self.assert_no_secrets(response, body)
        current = api.get(self.item_url(name)).json()
        assert {key: current[key] for key in updated} == updated

    def test_stale_version_is_409_or_412_with_the_current_record(self, api: APIClient, created: Any) -> None:
        if not self.versioned:
            pytest.skip("this resource has no version")
        name, body, record = created
        for headers, status in (({}, 409), ({"HTTP_IF_MATCH": "123"}, 412)):
            response = api.patch(self.url, self.update_body(name, "123"), format="json", **headers)
            assert response.status_code == status, response_text(response)
            assert response["ETag"] == record["version"]
            assert response.json()[self.name_field] == name
            self.assert_no_secrets(response, body)
        assert api.get(self.item_url(name)).json() == record

    @pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
    def test_delete_removes_the_record_and_destroys_its_secret(
        self, api: APIClient, created: Any, vault: SecretStore
    ) -> None:
        name, body, _ = created
        path = self.vault_path("", name)
        if path is not None and self.secret_fields:
            assert vault.read(path) is not None
        response = api.delete(self.item_url(name.upper()))
        assert response.status_code == 204 and response.content == b""
        assert api.get(self.item_url(name)).status_code == 404
        assert api.delete(self.item_url(name)).status_code == 404
        if path is not None:
            assert vault.read(path) is None

    def test_secrets_are_in_vault_at_the_documented_path(self, created: Any, vault: SecretStore) -> None:
        if not self.secret_fields:
            pytest.skip("this resource keeps no secret")
        name, body, _ = created
        path = self.vault_path("", name)
        assert path is not None
        stored = vault.read(path)
        assert stored is not None
        for field, key in self.secret_fields.items():
            if body.get(field):
                assert stored.values[key].reveal() == body[field]

    def test_etag_round_trip_gives_304(self, api: APIClient, created: Any) -> None:
        name, _, _ = created
        for url in (self.url, self.item_url(name)):
            first = api.get(url)
            etag = first["ETag"]
            assert etag
            second = api.get(url, HTTP_IF_NONE_MATCH=etag)
            assert second.status_code == 304 and second.content == b""

    @pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
    def test_tenants_are_isolated(self, clients: Client, vault: SecretStore) -> None:
        alice, bob = clients("tenant-a"), clients("tenant-b")
        name = unique_name()
        alice_body, bob_body = self.create_body(name), self.create_body(name)
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
        # the same name in another tenant is another record with its own secret
        assert bob.post(self.url, bob_body, format="json").status_code == 201
        alice_path, bob_path = self.vault_path("tenant-a", name), self.vault_path("tenant-b", name)
        if self.secret_fields and alice_path and bob_path:
            assert alice_path.startswith("tenants/tenant-a/") and bob_path.startswith("tenants/tenant-b/")
            assert vault.read(alice_path) is not None and vault.read(bob_path) is not None
            assert vault.read(self.vault_path("", name) or "") is None
            assert alice.delete(self.item_url(name)).status_code == 204
            assert vault.read(alice_path) is None and vault.read(bob_path) is not None
        assert bob.get(self.item_url(name)).status_code == 200

    def test_garbage_bodies_are_a_clear_400(self, api: APIClient, db: None, vault: SecretStore) -> None:
        for payload in ("[1, 2]", '"text"', "{not json", "42"):
            response = api.generic("POST", self.url, payload, content_type="application/json")
            assert response.status_code == 400, payload
            assert "error" in response.json() or "errors" in response.json()
        empty = api.post(self.url, {}, format="json")
        assert empty.status_code == 400 and empty.json()["errors"]

    def test_unsupported_verbs_are_404(self, api: APIClient, db: None) -> None:
        assert api.put(self.url, {}, format="json").status_code == 404
        assert api.delete(self.url).status_code == 404
        assert api.generic("COPY", self.url).status_code == 404

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

    def test_nul_in_the_url_is_a_400(self, api: APIClient, db: None) -> None:
        for response in (api.get(f"{self.item_url('a')}%00"), api.delete(f"{self.item_url('a')}%00b")):
            assert response.status_code == 400
            assert response.json() == {"error": "Bad Request", "message": "The URL contains a NUL character."}

    def test_unauthenticated_requests_are_401(self, db: None) -> None:
        assert APIClient().get(self.url).status_code == 401

    def test_validation_errors_never_echo_secrets(self, api: APIClient, db: None, vault: SecretStore) -> None:
        body = self.create_body(unique_name())
        body[self.name_field] = "bad name!"
        response = api.post(self.url, json.loads(json.dumps(body)), format="json")
        assert response.status_code == 400
        for error in response.json()["errors"]:
            if error["path"] in self.secret_fields:
                assert "value" not in error
        self.assert_no_secrets(response, body)

    def test_vault_unavailable_is_503_and_nothing_is_written(
        self, api: APIClient, vault: SecretStore, settings: Any
    ) -> None:
        if not self.secret_fields:
            pytest.skip("this resource keeps no secret")
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
        if not self.secret_fields:
            pytest.skip("this resource keeps no secret")
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
