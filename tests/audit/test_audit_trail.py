"""The audit trail records each kind of write with its caller, tenant and changed fields, never a
secret value, whichever edge made it (API or portal); it is append-only and pruned by retention."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from audit.models import AppendOnly, AuditEntry
from audit.services import audit_prune, audit_record
from devices.models import Device, ReprovisioningRequest
from rps_site.models import TenantMembership
from rps_site.vault import SecretStore
from tests.devices.test_device_trust_admin import activated, reset_and_claimed_again
from tests.mps_recorder import running_mps_recorder
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import ccm_profile_body, proxy_body, wireless_body

API = "/api/v1/admin"
pytestmark = pytest.mark.django_db


def entries(**match: Any) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**match).order_by("id"))


def everything_stored() -> str:
    return json.dumps(list(AuditEntry.objects.values()), default=str)


def test_api_writes_are_recorded_with_caller_tenant_fields_and_no_secret(vault: SecretStore) -> None:
    api = client_for("acme")
    name = unique_name("wifi")
    body = wireless_body(name)
    assert api.post(f"{API}/wirelessconfigs", body, format="json").status_code == 201
    version = api.get(f"{API}/wirelessconfigs/{name}").json()["version"]
    changed = {**body, "ssid": "lobby", "pskPassphrase": "another-Passphrase-9", "version": version}
    assert api.patch(f"{API}/wirelessconfigs", changed, format="json").status_code == 200
    assert api.delete(f"{API}/wirelessconfigs/{name}").status_code == 204

    created, updated, deleted = entries(name=name)
    for entry in (created, updated, deleted):
        assert entry.tenant_id == "acme" and entry.via == "api" and entry.resource == "wirelessconfigs"
        assert entry.actor.startswith("bearer:")
    assert (created.action, updated.action, deleted.action) == ("create", "update", "delete")
    assert "ssid" in created.fields and created.secret_fields == ["pskPassphrase"]
    assert updated.fields == ["ssid"] and updated.secret_fields == ["pskPassphrase"]
    assert deleted.fields == [] and deleted.secret_fields == []
    stored = everything_stored()
    assert str(body["pskPassphrase"]) not in stored and "another-Passphrase-9" not in stored


def test_a_profile_update_lists_exactly_the_fields_it_changed(vault: SecretStore) -> None:
    """The changed fields compare the record as stored before with the record as saved: a field
    the update did not touch (booleans, numbers, tags, choices) is never listed."""
    api = client_for("acme")
    name = unique_name("profile")
    body = ccm_profile_body(name, tags=["a", "b"], dhcpEnabled=True)
    assert api.post(f"{API}/profiles", body, format="json").status_code == 201
    stored = api.get(f"{API}/profiles/{name}").json()
    changed = {**stored, "kvmEnabled": not stored["kvmEnabled"], "tags": ["a", "c"]}
    changed.pop("amtPassword", None)
    changed.pop("mebxPassword", None)
    assert api.patch(f"{API}/profiles", changed, format="json").status_code == 200, "update refused"
    created, updated = entries(name=name)
    assert created.action == "create" and {"kvm_enabled", "tags"} <= set(created.fields)
    assert updated.action == "update" and sorted(updated.fields) == ["kvm_enabled", "tags"]


def test_a_refused_write_records_nothing(vault: SecretStore) -> None:
    api = client_for("")
    name = unique_name("proxy")
    assert api.post(f"{API}/proxyconfigs", proxy_body(name, port="x"), format="json").status_code == 400
    assert client_for("").delete(f"{API}/proxyconfigs/{unique_name('nosuch')}").status_code == 404
    assert not entries(name=name)


def portal_user(*, tenant_id: str, codenames: tuple[str, ...] = (), superuser: bool = False) -> tuple[Client, User]:
    user = User.objects.create_user(
        username=f"u{uuid.uuid4().hex[:8]}", password="unused-Pw1!x", is_staff=True, is_superuser=superuser
    )
    if tenant_id:
        TenantMembership.objects.create(user=user, tenant_id=tenant_id)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client(REMOTE_ADDR="198.51.100.7")
    client.force_login(user)
    return client, user


def test_portal_writes_are_recorded_as_the_portal_user(vault: SecretStore) -> None:
    client, user = portal_user(tenant_id="acme", codenames=("add_proxyconfig", "view_proxyconfig"))
    name = unique_name("proxy")
    form = {"name": name, "address": "proxy.example.com", "port": "3128", "network_dns_suffix": "corp.example.com"}
    assert client.post("/admin/profiles/proxyconfig/add/", form).status_code == 302
    [entry] = entries(name=name)
    assert (entry.actor, entry.via, entry.tenant_id, entry.action) == (
        f"user:{user.username}",
        "portal",
        "acme",
        "create",
    )
    assert entry.client_address == "198.51.100.7"
    assert {"address", "port", "network_dns_suffix"} <= set(entry.fields)


def test_export_purge_move_and_release_are_recorded(vault: SecretStore, settings: Any) -> None:
    settings.EXPORT_VIA_JWT = True
    api = client_for("acme")
    profile = unique_name("ccm")
    body = {"profileName": profile, "activation": "ccmactivate", "generateRandomPassword": True}
    assert (
        api.post(
            f"{API}/profiles", {**body, "generateRandomMEBxPassword": False, "dhcpEnabled": True}, format="json"
        ).status_code
        == 201
    )
    assert api.get(f"{API}/profiles/export/{profile}").status_code == 200
    [export] = entries(name=profile, action="export")
    assert export.tenant_id == "acme" and export.resource == "profiles"

    released, moved, purged = (str(uuid.uuid4()) for _ in range(3))
    activated(released, "acme")
    reset_and_claimed_again(released, "acme")
    activated(moved, "acme")
    activated(purged, "acme")
    with running_mps_recorder() as mps:
        settings.MPS_URL = mps.url
        assert api.post(f"{API}/devices/{released}/release").status_code == 200
        assert api.post(f"{API}/devices/{moved}/move", {"tenantId": "beta"}, format="json").status_code == 200
        assert api.delete(f"{API}/devices/{purged}").status_code == 204
    assert ReprovisioningRequest.objects.get(device__guid=released).state == "released"
    assert Device.objects.get(guid=moved).tenant_id == "beta"
    recorded = {(entry.action, entry.name, entry.detail) for entry in entries(tenant_id="acme", resource="devices")}
    assert recorded == {("release", released, ""), ("move", moved, "to tenant 'beta'"), ("purge", purged, "")}
    [arrived] = entries(tenant_id="beta", resource="devices")
    assert (arrived.action, arrived.name, arrived.detail) == ("move", moved, "from tenant 'acme'")
    assert arrived.actor.startswith("bearer:") and arrived.via == "api"


def test_portal_device_actions_are_recorded_too(vault: SecretStore) -> None:
    guid = str(uuid.uuid4())
    device = activated(guid, "acme")
    client, user = portal_user(tenant_id="acme", codenames=("view_device", "change_device"))
    url = "/admin/devices/device/"
    moved = client.post(
        url, {"action": "move_to_tenant", "_selected_action": [str(device.pk)], "confirm": "yes", "tenant_id": "beta"}
    )
    assert moved.status_code == 302
    recorded = {(entry.actor, entry.via, entry.action, entry.tenant_id, entry.detail) for entry in entries(name=guid)}
    assert recorded == {
        (f"user:{user.username}", "portal", "move", "acme", "to tenant 'beta'"),
        (f"user:{user.username}", "portal", "move", "beta", "from tenant 'acme'"),
    }


@pytest.mark.django_db
def test_entries_cannot_be_changed_or_deleted_by_the_application() -> None:
    entry = audit_record(tenant_id="", resource="proxyconfigs", name="p", action="create")
    assert entry.actor == "system" and entry.via == "system", "no request: a management command or code"
    entry.name = "rewritten"
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(name="rewritten")
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    for statement in (
        "UPDATE audit_auditentry SET name = 'x' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).name == "p"


@pytest.mark.django_db
def test_retention_removes_only_entries_older_than_the_setting(settings: Any) -> None:
    settings.AUDIT_RETENTION_DAYS = 30
    old = AuditEntry.objects.create(
        at=timezone.now() - timedelta(days=31), actor="a", via="api", resource="r", name="old", action="create"
    )
    recent = AuditEntry.objects.create(
        at=timezone.now() - timedelta(days=29), actor="a", via="api", resource="r", name="new", action="create"
    )
    assert audit_prune() == 1
    assert not AuditEntry.objects.filter(pk=old.pk).exists() and AuditEntry.objects.filter(pk=recent.pk).exists()
    settings.AUDIT_RETENTION_DAYS = 0
    assert audit_prune(now=timezone.now() + timedelta(days=3650)) == 0, "0 keeps every entry"


def test_portal_user_and_group_changes_are_recorded_without_the_password() -> None:
    client, admin = portal_user(tenant_id="acme", superuser=True)
    username, password = f"n{uuid.uuid4().hex[:8]}", "Very-Secret-Passw0rd!"
    added = client.post(
        "/admin/auth/user/add/",
        {"username": username, "password1": password, "password2": password, "usable_password": "true"},
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    user = User.objects.get(username=username)
    changed = client.post(
        f"/admin/auth/user/{user.pk}/password/", {"password1": password + "2", "password2": password + "2"}
    )
    assert changed.status_code == 302
    assert client.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"}).status_code == 302

    recorded = entries(resource="auth.user", name=username)
    assert [entry.action for entry in recorded] == ["create", "update", "delete"]
    assert {(entry.actor, entry.via, entry.tenant_id) for entry in recorded} == {
        (f"user:{admin.username}", "portal", "acme")
    }
    assert password not in everything_stored()


@pytest.mark.parametrize("count", [1, 3])
def test_deleting_selected_users_records_each_one_once(count: int) -> None:
    """The changelist's "delete selected": Django logs several deletions with bulk_create (no
    post_save), one with save; either way every deleted user has exactly one entry."""
    client, admin = portal_user(tenant_id="acme", superuser=True)
    users = [User.objects.create_user(username=f"d{uuid.uuid4().hex[:8]}") for _ in range(count)]
    selected = [str(user.pk) for user in users]
    confirm = client.post("/admin/auth/user/", {"action": "delete_selected", "_selected_action": selected})
    assert confirm.status_code == 200 and entries(action="delete", resource="auth.user") == [], "asked, not done"
    done = client.post("/admin/auth/user/", {"action": "delete_selected", "_selected_action": selected, "post": "yes"})
    assert done.status_code == 302
    assert not User.objects.filter(pk__in=selected).exists()
    recorded = entries(action="delete", resource="auth.user")
    assert sorted(entry.name for entry in recorded) == sorted(user.username for user in users)
    assert {(entry.actor, entry.via, entry.tenant_id) for entry in recorded} == {
        (f"user:{admin.username}", "portal", "acme")
    }
