"""The Vault storage layer against a real OpenBao dev server."""

from __future__ import annotations

import uuid

import pytest

from rps_site.models import TenantMembership
from rps_site.openbao_dev import start_dev_vault
from rps_site.sensitive import Secret
from rps_site.vault import (
    InvalidDeviceGuid,
    SecretStore,
    SecretVersionConflict,
    VaultUnavailable,
    atomic_with_secrets,
    device_path,
    path_segment,
    profile_passwords_path,
    tenant_path,
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_safe_names_are_kept_and_others_are_percent_encoded() -> None:
    assert path_segment("vPro_demo-1") == "vPro_demo-1"
    assert path_segment("../devices/x") == "%2E%2E%2Fdevices%2Fx"
    assert path_segment("a%2Fb") == "a%252Fb"
    assert path_segment("a.b c") == "a%2Eb%20c"
    assert path_segment("é") == "%C3%A9"


def test_tenant_paths_keep_upstream_layout_for_the_empty_tenant() -> None:
    assert tenant_path("", "profiles", "p1") == "profiles/p1"
    assert tenant_path("acme", "profiles", "p1") == "tenants/acme/profiles/p1"
    assert tenant_path("a/b", "profiles", "p1") == "tenants/a%2Fb/profiles/p1"


def test_device_paths_require_a_canonical_guid() -> None:
    guid = "4C4C4544-0050-4C10-8038-B8C04F564433"
    assert device_path(guid) == f"devices/{guid.lower()}"
    for hostile in (
        "../profiles/p1",
        "4c4c4544-0050-4c10-8038-b8c04f56443",
        "4c4c4544-0050-4c10-8038-b8c04f564433/x",
        "",
    ):
        with pytest.raises(InvalidDeviceGuid):
            device_path(hostile)


def test_create_refuses_to_overwrite_and_update_checks_the_version(vault: SecretStore) -> None:
    path = profile_passwords_path("", unique("p"))
    version = vault.create(path, {"AMT_PASSWORD": Secret("First1!pw")})
    assert version == 1
    with pytest.raises(SecretVersionConflict):
        vault.create(path, {"AMT_PASSWORD": Secret("Other1!pw")})
    assert vault.update(path, {"AMT_PASSWORD": Secret("Second1!pw")}, expected_version=1) == 2
    with pytest.raises(SecretVersionConflict):
        vault.update(path, {"AMT_PASSWORD": Secret("Third1!pw")}, expected_version=1)
    stored = vault.read(path)
    assert stored is not None and stored.version == 2
    assert stored.values["AMT_PASSWORD"].reveal() == "Second1!pw"
    assert repr(stored.values["AMT_PASSWORD"]) == "Secret('********')"


def test_destroy_removes_every_version(vault: SecretStore) -> None:
    path = profile_passwords_path("", unique("gone"))
    vault.create(path, {"AMT_PASSWORD": Secret("a")})
    vault.update(path, {"AMT_PASSWORD": Secret("b")}, expected_version=1)
    vault.destroy(path)
    assert vault.read(path) is None
    # No metadata left: a create-only write succeeds again as version 1.
    assert vault.create(path, {"AMT_PASSWORD": Secret("c")}) == 1
    vault.destroy(path)
    vault.destroy(path)  # destroying what is not there is not an error


@pytest.mark.parametrize(
    "hostile", ["../devices/victim", "..%2Fdevices%2Fvictim", "a/../../victim", ".", "..", "%", "x?y#z"]
)
def test_hostile_names_touch_no_other_path(vault: SecretStore, hostile: str) -> None:
    folder = unique("hostile")
    victim = f"{folder}/victim"
    vault.create(victim, {"AMT_PASSWORD": Secret("victim-value")})
    attack = f"{folder}/profiles/{path_segment(hostile)}"
    vault.create(attack, {"AMT_PASSWORD": Secret("attacker")})
    stored_victim = vault.read(victim)
    assert stored_victim is not None and stored_victim.version == 1
    assert stored_victim.values["AMT_PASSWORD"].reveal() == "victim-value"
    # The hostile name is exactly one key in the folder it was meant for.
    assert vault.list_keys(f"{folder}/profiles") == [path_segment(hostile)]
    stored_attack = vault.read(attack)
    assert stored_attack is not None and stored_attack.values["AMT_PASSWORD"].reveal() == "attacker"


def test_prefix_is_applied(dev_vault) -> None:  # type: ignore[no-untyped-def]
    prefix = unique("prefix")
    store = SecretStore(
        addr=dev_vault.addr, token=dev_vault.root_token, mount="secret", prefix=prefix, timeout=5, verify=True
    )
    store.create("profiles/p1", {"AMT_PASSWORD": Secret("x")})
    plain = SecretStore(
        addr=dev_vault.addr, token=dev_vault.root_token, mount="secret", prefix="", timeout=5, verify=True
    )
    assert plain.read(f"{prefix}/profiles/p1") is not None


@pytest.mark.django_db(transaction=True)
def test_failed_transaction_destroys_what_it_created(vault: SecretStore, django_user_model) -> None:  # type: ignore[no-untyped-def]
    path = profile_passwords_path("", unique("rolled-back"))
    user = django_user_model.objects.create(username=unique("u"))
    with pytest.raises(RuntimeError):
        with atomic_with_secrets() as changes:
            TenantMembership.objects.create(user=user, tenant_id="t")
            changes.create(path, {"AMT_PASSWORD": Secret("x")})
            raise RuntimeError("database failed after the secret was written")
    assert vault.read(path) is None
    assert not TenantMembership.objects.filter(user=user).exists()


@pytest.mark.django_db(transaction=True)
def test_failed_transaction_restores_what_it_replaced(vault: SecretStore) -> None:
    path = profile_passwords_path("", unique("restored"))
    vault.create(path, {"AMT_PASSWORD": Secret("original")})
    with pytest.raises(RuntimeError):
        with atomic_with_secrets() as changes:
            changes.replace(path, {"AMT_PASSWORD": Secret("replacement")})
            raise RuntimeError("boom")
    stored = vault.read(path)
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == "original"


@pytest.mark.django_db(transaction=True)
def test_destroy_waits_for_the_commit(vault: SecretStore) -> None:
    kept, destroyed = (profile_passwords_path("", unique(n)) for n in ("kept", "destroyed"))
    for path in (kept, destroyed):
        vault.create(path, {"AMT_PASSWORD": Secret("x")})
    with pytest.raises(RuntimeError):
        with atomic_with_secrets() as changes:
            changes.destroy(kept)
            raise RuntimeError("rolled back")
    assert vault.read(kept) is not None
    with atomic_with_secrets() as changes:
        changes.destroy(destroyed)
        assert vault.read(destroyed) is not None, "destroyed before the commit was known"
    assert vault.read(destroyed) is None


def test_stopped_vault_raises_unavailable_without_leaking_the_token() -> None:
    stopped = start_dev_vault()
    store = SecretStore(addr=stopped.addr, token=stopped.root_token, mount="secret", prefix="", timeout=2, verify=True)
    store.create("profiles/p", {"AMT_PASSWORD": Secret("x")})
    stopped.stop()
    for operation in (
        lambda: store.read("profiles/p"),
        lambda: store.create("profiles/q", {"AMT_PASSWORD": Secret("x")}),
        lambda: store.destroy("profiles/p"),
    ):
        with pytest.raises(VaultUnavailable) as raised:
            operation()
        assert stopped.root_token not in str(raised.value)
        assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert store.health() == "unreachable"
