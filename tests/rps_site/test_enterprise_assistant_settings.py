"""The Enterprise Assistant settings: accounts as JSON, anonymous EAs only with debug, passwords
long enough outside it; a refused value is never echoed."""

from __future__ import annotations

import json

import pytest

from tests.rps_site.test_settings import run

GOOD_ACCOUNTS = json.dumps({"ea-corp": {"password": "p" * 16}, "ea-acme": {"password": "a" * 20, "tenant": "acme"}})
SHOW = (
    "from django.conf import settings; "
    "print(sorted((user, tenant) for user, (_, tenant) in settings.EA_ACCOUNTS.items()), settings.EA_ACCOUNTS)"
)


def test_accounts_are_read_with_their_tenants_and_masked() -> None:
    result = run(["manage.py", "shell", "-c", SHOW], RPS_EA_ACCOUNTS=GOOD_ACCOUNTS)
    assert result.returncode == 0, result.stderr
    assert "[('ea-acme', 'acme'), ('ea-corp', '')]" in result.stdout
    assert "p" * 16 not in result.stdout and "Secret('********')" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"RPS_EA_ACCOUNTS": json.dumps({"ea": {"password": "short-Canary1"}})}, "16+ characters"),
        ({"RPS_EA_ALLOW_ANONYMOUS": "true"}, "RPS_EA_ALLOW_ANONYMOUS needs RPS_DEBUG"),
        ({"RPS_EA_ACCOUNTS": "ea:long-enough-Canary1"}, "must be a JSON object"),
        ({"RPS_EA_ACCOUNTS": json.dumps({"ea": "long-enough-Canary1"})}, "needs a user name"),
        ({"RPS_EA_ACCOUNTS": json.dumps({"ea": {"password": "long-enough-Canary1", "tenant": 7}})}, "text tenant"),
        ({"RPS_EA_TIMEOUT": "0"}, "RPS_EA_TIMEOUT must be > 0"),
    ],
)
def test_insecure_or_malformed_values_are_refused(overrides: dict[str, str], message: str) -> None:
    result = run(["manage.py", "check"], **overrides)
    assert result.returncode != 0 and message in result.stderr
    assert "Canary1" not in result.stderr


def test_debug_allows_an_anonymous_ea_and_short_passwords() -> None:
    accounts = json.dumps({"ea": {"password": "dev"}})
    result = run(["manage.py", "check"], RPS_DEBUG="true", RPS_EA_ALLOW_ANONYMOUS="true", RPS_EA_ACCOUNTS=accounts)
    assert result.returncode == 0, result.stderr
