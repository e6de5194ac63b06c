"""Finding 4: Vault outcomes that are not certain are resolved before anyone is answered.

A real OpenBao behind a real proxy (tests/vault_proxy.py) that loses answers, delivers writes
after the client gave up, or stops accepting connections. Nothing here is mocked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from profiles.models import CiraConfig
from profiles.services.cira_configs import cira_config_delete
from rps_site.models import PendingSecretDestroy
from rps_site.openbao_dev import DevVault
from rps_site.sensitive import Secret
from rps_site.vault import (
    SecretStore,
    VaultCredentialRefused,
    VaultDestroyUnconfirmed,
    VaultWriteUnconfirmed,
    cira_config_path,
    secret_store,
)
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import cira_body
from tests.vault_proxy import VaultProxy, vault_proxy

CIRA_URL = "/api/v1/admin/ciraconfigs"
HOLD_SECONDS = 2.5  # past the 1 s client timeout used here


@pytest.fixture
def proxy(dev_vault: DevVault) -> Iterator[VaultProxy]:
    with vault_proxy(dev_vault.addr) as running:
        yield running


def store_at(addr: str, token: str) -> SecretStore:
    return SecretStore(addr=addr, token=token, mount="secret", prefix="", timeout=1, verify=True)


@pytest.fixture
def direct(dev_vault: DevVault) -> SecretStore:
    """Vault itself, for what is really stored."""
    return store_at(dev_vault.addr, dev_vault.root_token)


@pytest.fixture
def through_proxy(dev_vault: DevVault, proxy: VaultProxy) -> SecretStore:
    return store_at(proxy.addr, dev_vault.root_token)


def data_path(path: str) -> str:
    return f"secret/data/{re.escape(path)}"


def unique_path() -> str:
    return f"outcomes-{uuid.uuid4().hex[:12]}/secret"


def value_of(store: SecretStore, path: str) -> tuple[int, str] | None:
    stored = store.read(path)
    return None if stored is None else (stored.version, stored.values["K"].reveal())


# --- the storage layer ------------------------------------------------------------------------


def test_a_create_whose_answer_is_lost_is_found_to_have_landed(
    proxy: VaultProxy, through_proxy: SecretStore, direct: SecretStore
) -> None:
    path = unique_path()
    lost = proxy.lose_answer("POST", data_path(path))
    assert through_proxy.create(path, {"K": Secret("mine")}) == 1
    assert lost.landed.is_set()
    assert value_of(direct, path) == (1, "mine")


def test_a_create_that_lands_late_is_sent_again_and_the_late_one_changes_nothing(
    proxy: VaultProxy, through_proxy: SecretStore, direct: SecretStore
) -> None:
    path = unique_path()
    late = proxy.hold("POST", data_path(path), HOLD_SECONDS)
    assert through_proxy.create(path, {"K": Secret("mine")}) == 1
    assert not late.landed.is_set(), "answered only after the held write reached Vault"
    assert late.landed.wait(10)
    assert b"check-and-set" in late.answer  # the late copy was refused by Vault
    assert value_of(direct, path) == (1, "mine")


@pytest.mark.parametrize("failure", ["lose_answer", "hold"])
def test_an_update_whose_outcome_is_unknown_is_resolved(
    proxy: VaultProxy, through_proxy: SecretStore, direct: SecretStore, failure: str
) -> None:
    path = unique_path()
    direct.create(path, {"K": Secret("v1")})
    rule = (
        proxy.lose_answer("POST", data_path(path))
        if failure == "lose_answer"
        else proxy.hold("POST", data_path(path), HOLD_SECONDS)
    )
    assert through_proxy.update(path, {"K": Secret("v2")}, expected_version=1) == 2
    assert rule.landed.wait(10)
    assert value_of(direct, path) == (2, "v2")


def test_a_destroy_whose_answer_is_lost_is_confirmed(
    proxy: VaultProxy, through_proxy: SecretStore, direct: SecretStore
) -> None:
    path = unique_path()
    direct.create(path, {"K": Secret("x")})
    lost = proxy.lose_answer("DELETE", f"secret/metadata/{re.escape(path)}")
    through_proxy.destroy(path)
    assert lost.landed.is_set() and direct.read(path) is None


def test_a_write_vault_cannot_be_asked_about_is_reported_unconfirmed(
    proxy: VaultProxy, through_proxy: SecretStore, direct: SecretStore
) -> None:
    path = unique_path()
    proxy.lose_answer("POST", data_path(path), then_down=True)
    with pytest.raises(VaultWriteUnconfirmed):
        through_proxy.create(path, {"K": Secret("mine")})
    assert value_of(direct, path) == (1, "mine")  # it did land: "unconfirmed" was the truth


# --- through the API --------------------------------------------------------------------------


@pytest.fixture
def api(dev_vault: DevVault, proxy: VaultProxy, settings, transactional_db: None) -> Iterator[APIClient]:  # type: ignore[no-untyped-def]
    settings.VAULT_ADDR, settings.VAULT_TOKEN, settings.VAULT_TIMEOUT_SECONDS = proxy.addr, dev_vault.root_token, 1
    secret_store.cache_clear()
    yield client_for("")
    secret_store.cache_clear()


def cira_secret_rule(name: str) -> str:
    return data_path(cira_config_path("", name))


def stored_password(direct: SecretStore, name: str) -> tuple[int, str] | None:
    stored = direct.read(cira_config_path("", name))
    return None if stored is None else (stored.version, stored.values["MPS_PASSWORD"].reveal())


def test_api_create_whose_answer_is_lost_is_201_with_one_secret(
    api: APIClient, proxy: VaultProxy, direct: SecretStore
) -> None:
    name = unique_name("lost")
    proxy.lose_answer("POST", cira_secret_rule(name))
    body = cira_body(name)
    response = api.post(CIRA_URL, body, format="json")
    assert response.status_code == 201, response.content
    assert api.get(f"{CIRA_URL}/{name}").status_code == 200
    assert stored_password(direct, name) == (1, body["password"])


def test_api_create_that_lands_late_is_201_and_the_late_write_changes_nothing(
    api: APIClient, proxy: VaultProxy, direct: SecretStore
) -> None:
    name = unique_name("late")
    late = proxy.hold("POST", cira_secret_rule(name), HOLD_SECONDS)
    body = cira_body(name)
    assert api.post(CIRA_URL, body, format="json").status_code == 201
    assert late.landed.wait(10)
    assert stored_password(direct, name) == (1, body["password"])
    assert CiraConfig.objects.filter(name=name).count() == 1


def test_api_create_vault_cannot_confirm_says_so_and_a_repeat_succeeds(
    api: APIClient, proxy: VaultProxy, direct: SecretStore
) -> None:
    """Formerly 503 "nothing was changed" while Vault held the secret, then 409 "retry" for ever."""
    name = unique_name("unsure")
    proxy.lose_answer("POST", cira_secret_rule(name), then_down=True)
    response = api.post(CIRA_URL, cira_body(name), format="json")
    assert response.status_code == 503
    assert response.json() == {"error": "Service Unavailable", "message": VaultWriteUnconfirmed.public_message}
    assert not CiraConfig.objects.filter(name=name).exists()
    assert stored_password(direct, name) is not None  # the write had landed: a secret without a record
    proxy.up()
    repeat = cira_body(name, password="Another-Pw1!")
    response = api.post(CIRA_URL, repeat, format="json")
    assert response.status_code == 201, response.content
    assert stored_password(direct, name) == (1, "Another-Pw1!")  # the leftover replaced, all versions gone


def test_api_delete_with_a_token_that_may_not_destroy_is_503_and_keeps_both(
    dev_vault: DevVault,
    settings,
    transactional_db: None,
    direct: SecretStore,  # type: ignore[no-untyped-def]
) -> None:
    """Formerly 204, with "orphaned" in the log and the MPS password left in Vault."""
    client = dev_vault.root_client()
    client.sys.create_or_update_policy(
        "rps-no-destroy",
        'path "secret/data/*" { capabilities = ["create", "read", "update"] }\n'
        'path "secret/metadata/*" { capabilities = ["read", "list"] }',
    )
    token = client.auth.token.create(policies=["rps-no-destroy"])["auth"]["client_token"]
    settings.VAULT_ADDR, settings.VAULT_TOKEN = dev_vault.addr, token
    secret_store.cache_clear()
    try:
        api = client_for("")
        name = unique_name("keep")
        assert api.post(CIRA_URL, cira_body(name), format="json").status_code == 201
        response = api.delete(f"{CIRA_URL}/{name}")
    finally:
        secret_store.cache_clear()
    assert response.status_code == 503
    assert response.json()["message"] == VaultCredentialRefused.public_message
    assert CiraConfig.objects.filter(name=name).exists()
    assert stored_password(direct, name) is not None
    assert not PendingSecretDestroy.objects.exists()


def test_api_delete_vault_does_not_confirm_is_an_error_and_stays_pending(
    api: APIClient, proxy: VaultProxy, direct: SecretStore
) -> None:
    name = unique_name("gone")
    assert api.post(CIRA_URL, cira_body(name), format="json").status_code == 201
    path = cira_config_path("", name)
    proxy.lose_answer("DELETE", f"secret/metadata/{re.escape(path)}", then_down=True)
    response = api.delete(f"{CIRA_URL}/{name}")
    assert response.status_code == 503
    assert response.json()["message"] == VaultDestroyUnconfirmed.public_message
    assert not CiraConfig.objects.filter(name=name).exists()
    assert PendingSecretDestroy.objects.filter(path=path).exists()
    # Vault back: the pending destroy runs before the same name gets a new secret.
    proxy.up()
    assert api.post(CIRA_URL, cira_body(name, password="Next-Pw1!"), format="json").status_code == 201
    assert stored_password(direct, name) == (1, "Next-Pw1!")
    assert not PendingSecretDestroy.objects.filter(path=path).exists()


@pytest.mark.django_db(transaction=True)
def test_an_outer_transaction_that_rolls_back_keeps_the_record_and_its_secret(vault: SecretStore) -> None:
    """The admin's delete view wraps the service in its own transaction: the destroy waits for it."""
    api = client_for("")
    kept, deleted = unique_name("kept"), unique_name("deleted")
    for name in (kept, deleted):
        assert api.post(CIRA_URL, cira_body(name), format="json").status_code == 201
    with pytest.raises(RuntimeError), transaction.atomic():
        cira_config_delete(tenant_id="", name=kept)
        raise RuntimeError("the outer transaction fails after the service returned")
    assert CiraConfig.objects.filter(name=kept).exists()
    assert vault.read(cira_config_path("", kept)) is not None
    assert not PendingSecretDestroy.objects.exists()
    with transaction.atomic():
        cira_config_delete(tenant_id="", name=deleted)
        assert vault.read(cira_config_path("", deleted)) is not None, "destroyed before the outer commit"
    assert vault.read(cira_config_path("", deleted)) is None
    assert not PendingSecretDestroy.objects.exists()
