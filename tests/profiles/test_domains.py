"""Domains: the shared API suite plus the domain-specific rules (rest-api.md §2.1)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from profiles.models import Domain
from rps_site.vault import SecretStore, domain_certificate_path
from tests.profiles.api_suite import ApiResourceSuite, unique_name
from tests.profiles.factories import PFX_PASSWORD, domain_body, provisioning_pfx

URL = "/api/v1/admin/domains"


class TestDomainApi(ApiResourceSuite):
    url = URL
    model = Domain
    name_field = "profileName"
    secret_fields = {"provisioningCert": "CERT", "provisioningCertPassword": "CERT_PASSWORD"}
    not_found = "Domain profile {name} Not Found"
    duplicate = ("Unique key violation", "Domain {name} ID or Suffix already exists")
    changed_field = ("provisioningCertStorageFormat", "string")
    if_match_sets_version = False

    def create_body(self, name: str) -> dict[str, Any]:
        return domain_body(name)

    def update_body(self, name: str, version: str | None) -> dict[str, Any]:
        return {"profileName": name, "provisioningCertStorageFormat": "string", "version": version}

    def vault_path(self, tenant_id: str, name: str) -> str:
        return domain_certificate_path(tenant_id, name)


@pytest.fixture
def api(vault: SecretStore, db: None) -> APIClient:
    from tests.profiles.api_suite import client_for

    return client_for("")


def test_create_validation_messages_in_upstream_order(api: APIClient) -> None:
    response = api.post(URL, {}, format="json")
    assert response.status_code == 400
    assert [(error["path"], error["msg"]) for error in response.json()["errors"]] == [
        ("profileName", "AMT Domain profile name is required"),
        ("profileName", "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)"),
        ("provisioningCertPassword", "Provisioning Cert Password is required"),
        ("domainSuffix", "Domain suffix name is required"),
        ("provisioningCert", "Provisioning certificate is required"),
        ("provisioningCertStorageFormat", "Provisioning Cert Storage Format is required"),
        ("provisioningCertStorageFormat", "Provisioning Cert Storage Format should be either 'raw' or 'string'"),
    ]


def test_missing_suffix_gives_the_suffix_error_first(api: APIClient) -> None:
    body = domain_body(unique_name())
    del body["domainSuffix"]
    errors = api.post(URL, body, format="json").json()["errors"]
    assert errors[0]["msg"] == "Domain suffix name is required"
    assert errors[1]["path"] == "provisioningCert" and "value" not in errors[1]


def test_a_password_over_64_is_rejected_without_echo(api: APIClient) -> None:
    body = domain_body(unique_name(), provisioningCertPassword="x" * 65)
    errors = api.post(URL, body, format="json").json()["errors"]
    assert errors[0] == {
        "type": "field",
        "msg": "Password should not exceed 64 characters in length",
        "path": "provisioningCertPassword",
        "location": "body",
    }


def test_a_wrong_pfx_password_names_the_cause(api: APIClient) -> None:
    body = domain_body(unique_name(), provisioningCertPassword="wrong-password")
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["path"] == "provisioningCert" and error["msg"] == "Provisioning certificate password is incorrect"
    assert "wrong-password" not in response.content.decode()


def test_a_suffix_outside_the_certificate_is_rejected(api: APIClient) -> None:
    body = domain_body(unique_name(), domainSuffix="vpro.other.org")
    errors = api.post(URL, body, format="json").json()["errors"]
    assert errors == [
        {
            "type": "field",
            "msg": "FQDN not associated with provisioning certificate",
            "path": "provisioningCert",
            "location": "body",
        }
    ]


def test_create_computes_the_expiration_date(api: APIClient) -> None:
    record = api.post(URL, domain_body(unique_name()), format="json").json()
    assert record["expirationDate"].endswith("Z") and len(record["expirationDate"]) == len("2033-05-03T07:11:10.000Z")
    assert list(record) == [
        "profileName",
        "domainSuffix",
        "provisioningCertStorageFormat",
        "expirationDate",
        "tenantId",
        "version",
    ]


def test_a_duplicate_suffix_is_a_unique_key_violation(api: APIClient) -> None:
    first = domain_body(unique_name())
    assert api.post(URL, first, format="json").status_code == 201
    second = domain_body(unique_name(), domainSuffix=first["domainSuffix"])
    response = api.post(URL, second, format="json")
    assert response.json() == {
        "error": "Unique key violation",
        "message": f"Domain {second['profileName']} ID or Suffix already exists",
    }


def test_patch_with_only_a_new_password_keeps_the_stored_certificate(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    record = api.post(URL, domain_body(name), format="json").json()
    response = api.patch(
        URL,
        {
            "profileName": name,
            "provisioningCertStorageFormat": "raw",
            "provisioningCertPassword": "new-secret",
            "version": record["version"],
        },
        format="json",
    )
    assert response.status_code == 200
    stored = vault.read(domain_certificate_path("", name))
    assert stored is not None
    assert stored.values["CERT"].reveal() == provisioning_pfx()
    assert stored.values["CERT_PASSWORD"].reveal() == "new-secret"
    assert "new-secret" not in response.content.decode()


def test_patch_with_a_new_certificate_reuses_the_stored_password(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    record = api.post(URL, domain_body(name), format="json").json()
    response = api.patch(
        URL,
        {
            "profileName": name,
            "provisioningCertStorageFormat": "raw",
            "provisioningCert": provisioning_pfx(),
            "domainSuffix": f"{name}.example.org",
            "version": record["version"],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["domainSuffix"] == f"{name}.example.org"
    assert vault.read(domain_certificate_path("", name)).values["CERT_PASSWORD"].reveal() == PFX_PASSWORD


def test_patch_requires_the_storage_format(api: APIClient) -> None:
    errors = api.patch(URL, {"profileName": "x"}, format="json").json()["errors"]
    assert errors == [
        {
            "type": "field",
            "msg": 'Provisioning Cert Storage Format is either "raw" or "string"',
            "path": "provisioningCertStorageFormat",
            "location": "body",
        }
    ]


def test_a_missing_version_is_a_conflict(api: APIClient) -> None:
    name = unique_name()
    api.post(URL, domain_body(name), format="json")
    response = api.patch(URL, {"profileName": name, "provisioningCertStorageFormat": "raw"}, format="json")
    assert response.status_code == 409


def test_a_hostile_name_touches_no_other_vault_path(api: APIClient, vault: SecretStore) -> None:
    from rps_site.sensitive import Secret

    victim = f"certs/{unique_name()}"
    vault.create(victim, {"CERT": Secret("keep")})
    name = "../" + victim
    response = api.post(URL, domain_body(name), format="json")
    assert response.status_code == 400  # the name rule already refuses it
    assert vault.read(victim).values["CERT"].reveal() == "keep"
    # even a row created behind the API's back maps to an encoded, separate path
    domain = Domain(tenant_id="", name=name, domain_suffix="x", provisioning_cert_storage_format="raw", version=1)
    assert "/" not in domain.secret_path.removeprefix("certs/")


@pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
def test_admin_uploads_the_pfx_through_the_service_and_logs_no_secret(
    vault: SecretStore, db: None, django_user_model: Any, client: Any
) -> None:
    import base64

    from django.contrib.admin.models import LogEntry
    from django.core.files.uploadedfile import SimpleUploadedFile

    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin_user)
    name = unique_name()
    pfx_file = SimpleUploadedFile("domain.pfx", base64.b64decode(provisioning_pfx()), "application/x-pkcs12")
    response = client.post(
        "/admin/profiles/domain/add/",
        {
            "name": name,
            "domain_suffix": f"{name}.example.com",
            "provisioning_cert_storage_format": "raw",
            "provisioning_cert_file": pfx_file,
            "provisioning_cert_password": PFX_PASSWORD,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    domain = Domain.objects.get(name=name)
    assert domain.expiration_date is not None
    assert vault.read(domain.secret_path).values["CERT_PASSWORD"].reveal() == PFX_PASSWORD
    page = client.get(f"/admin/profiles/domain/{domain.pk}/change/").content.decode()
    assert PFX_PASSWORD not in page
    assert all(PFX_PASSWORD not in entry.change_message for entry in LogEntry.objects.all())
    # a wrong password is a form error naming the cause, and nothing is written
    other = unique_name()
    bad = client.post(
        "/admin/profiles/domain/add/",
        {
            "name": other,
            "domain_suffix": f"{other}.example.com",
            "provisioning_cert_storage_format": "raw",
            "provisioning_cert_file": SimpleUploadedFile("d.pfx", base64.b64decode(provisioning_pfx())),
            "provisioning_cert_password": "wrong-one",
        },
    )
    assert bad.status_code == 200 and "Provisioning certificate password is incorrect" in bad.content.decode()
    assert "wrong-one" not in bad.content.decode()
    assert not Domain.objects.filter(name=other).exists()
    # delete goes through the service and destroys the secret
    assert client.post(f"/admin/profiles/domain/{domain.pk}/delete/", {"post": "yes"}).status_code == 302
    assert vault.read(domain.secret_path) is None


def test_admin_shows_a_non_superuser_only_their_tenant(vault: SecretStore, db: None, django_user_model: Any) -> None:
    from django.test import RequestFactory

    from profiles.admin.domains import DomainAdmin
    from rps_site.models import TenantMembership

    Domain.objects.create(
        tenant_id="a", name="mine", domain_suffix="a.com", provisioning_cert_storage_format="raw", version=1
    )
    Domain.objects.create(
        tenant_id="b", name="theirs", domain_suffix="b.com", provisioning_cert_storage_format="raw", version=2
    )
    user = django_user_model.objects.create_user("staff", "s@example.com", "pw", is_staff=True)
    TenantMembership.objects.create(user=user, tenant_id="a")
    request = RequestFactory().get("/admin/profiles/domain/")
    request.user = django_user_model.objects.get(pk=user.pk)
    from django.contrib import admin as django_admin

    names = [domain.name for domain in DomainAdmin(Domain, django_admin.site).get_queryset(request)]
    assert names == ["mine"]


def test_values_too_long_for_the_database_are_a_clear_400(api: APIClient) -> None:
    name = "d" * 300
    response = api.post(URL, domain_body(name, domainSuffix="x.example.com"), format="json")
    assert response.status_code == 400
    assert [error["msg"] for error in response.json()["errors"]] == [
        "profileName must be a string of at most 256 characters"
    ]
