"""The dashboard's health panel: Vault, the database and MPS, checked for real, each within a
deadline, shown only to portal users."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client

from portal.health import State, component_health
from rps_site.openbao_dev import start_dev_vault
from rps_site.vault import SecretStore, secret_store
from tests.mps_recorder import MpsRecorder, running_mps_recorder


def states(deadline: float = 2.0) -> dict[str, tuple[State, str]]:
    return {item.name: (item.state, item.detail) for item in component_health(deadline=deadline)}


@pytest.fixture
def mps(settings) -> Iterator[MpsRecorder]:  # type: ignore[no-untyped-def]
    with running_mps_recorder() as recorder:
        settings.MPS_URL = recorder.url
        yield recorder


@pytest.fixture
def silent_mps(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """An MPS address that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    settings.MPS_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
    yield
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.mark.django_db
def test_all_up(vault: SecretStore, mps: MpsRecorder) -> None:
    found = states()
    assert found["Vault"] == (State.OK, "unsealed")
    assert found["Database"][0] is State.OK
    assert found["MPS"] == (State.OK, "answered HTTP 200")
    call = mps.calls("GET")[-1]
    assert call.path == "/api/v1/health" and call.headers["Authorization"].startswith("Bearer ")


@pytest.mark.django_db
def test_mps_not_configured(vault: SecretStore, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MPS_URL = ""
    assert states()["MPS"] == (State.NOT_CONFIGURED, "RPS_MPS_URL is empty")


@pytest.mark.django_db
def test_vault_down_and_mps_failing(settings, mps: MpsRecorder) -> None:  # type: ignore[no-untyped-def]
    stopped = start_dev_vault()
    stopped.stop()
    settings.VAULT_ADDR, settings.VAULT_TOKEN = stopped.addr, stopped.root_token
    mps.status_by_method["GET"] = 503
    secret_store.cache_clear()
    try:
        found = states()
    finally:
        secret_store.cache_clear()
    assert found["Vault"] == (State.DOWN, "unreachable")
    assert found["MPS"] == (State.DOWN, "answered HTTP 503")
    assert found["Database"][0] is State.OK


@pytest.mark.django_db
def test_a_silent_component_is_reported_at_the_deadline(vault: SecretStore, silent_mps: None) -> None:
    state, detail = states(deadline=0.5)["MPS"]
    assert state is State.DOWN and ("0.5 s" in detail or "Timeout" in detail)


@pytest.mark.django_db
def test_the_panel_is_for_portal_users_only(vault: SecretStore, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MPS_URL = ""
    anonymous = Client().get("/admin/health/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    client = Client()
    client.force_login(User.objects.create_user(username="staff", password="unused-Pw1!x", is_staff=True))
    response = client.get("/admin/health/")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert 'data-component="Vault"' in page and "portal-health-ok" in page and "not configured" in page
