"""SECURITY.md check 16: repeated failed portal logins lock out, and no log line has the password."""

from __future__ import annotations

import logging

import pytest
from django.test import Client


@pytest.mark.django_db
def test_repeated_failed_logins_lock_out_without_logging_the_password(
    django_user_model,
    settings,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level(logging.DEBUG)
    django_user_model.objects.create_superuser(username="operator", password="Right-Passw0rd!x")
    client = Client(REMOTE_ADDR="203.0.113.7")
    wrong = "Wrong-Canary-9f3e!"
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post("/admin/login/", {"username": "operator", "password": wrong})
        assert response.status_code == 200  # the form again, with an error
    assert client.post("/admin/login/", {"username": "operator", "password": wrong}).status_code == 429
    locked = client.post("/admin/login/", {"username": "operator", "password": "Right-Passw0rd!x"})
    assert locked.status_code == 429, "the right password must not get in once locked out"
    assert "_auth_user_id" not in client.session
    assert wrong not in caplog.text and "Right-Passw0rd" not in caplog.text
    assert any("operator" in record.getMessage() for record in caplog.records), "failures are logged"


@pytest.mark.django_db
def test_a_good_login_before_the_limit_works(django_user_model) -> None:  # type: ignore[no-untyped-def]
    django_user_model.objects.create_superuser(username="admin2", password="Right-Passw0rd!x")
    client = Client(REMOTE_ADDR="203.0.113.8")
    client.post("/admin/login/", {"username": "admin2", "password": "nope"})
    response = client.post("/admin/login/", {"username": "admin2", "password": "Right-Passw0rd!x"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(django_user_model, settings) -> None:  # type: ignore[no-untyped-def]
    """Lockouts are keyed on the user name and the address together (issue #11, finding 8)."""
    django_user_model.objects.create_superuser(username="known-admin", password="Right-Passw0rd!x")
    attacker, operator = Client(REMOTE_ADDR="203.0.113.66"), Client(REMOTE_ADDR="198.51.100.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post("/admin/login/", {"username": "known-admin", "password": "guess"})
    assert (
        attacker.post("/admin/login/", {"username": "known-admin", "password": "Right-Passw0rd!x"}).status_code == 429
    )
    response = operator.post("/admin/login/", {"username": "known-admin", "password": "Right-Passw0rd!x"})
    assert response.status_code == 302, "the admin logs in from their own address"
    # and the attacker's address is not locked out for other user names either
    django_user_model.objects.create_superuser(username="colleague", password="Right-Passw0rd!y")
    shared = attacker.post("/admin/login/", {"username": "colleague", "password": "Right-Passw0rd!y"})
    assert shared.status_code == 302
