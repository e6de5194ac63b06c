"""The Enterprise Assistant's accounts (RPS_EA_ACCOUNTS), read by `rps_site.settings`: the EA
authenticates with the user and password it already sends in `x-meshauth`."""

from __future__ import annotations

import json

from django.core.exceptions import ImproperlyConfigured

from rps_site.sensitive import Secret

EA_PASSWORD_MIN_LENGTH = 16


def enterprise_assistant_accounts(raw: str) -> dict[str, tuple[Secret, str]]:
    """user → (password, tenant); a malformed value is refused without echoing it."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured("RPS_EA_ACCOUNTS must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured("RPS_EA_ACCOUNTS must be a JSON object")
    accounts = {}
    for user, account in parsed.items():
        password = account.get("password") if isinstance(account, dict) else None
        tenant = account.get("tenant", "") if isinstance(account, dict) else None
        if not user or not isinstance(password, str) or not password or not isinstance(tenant, str):
            raise ImproperlyConfigured(
                "each RPS_EA_ACCOUNTS entry needs a user name, a non-empty password and a text tenant"
            )
        accounts[user] = (Secret(password), tenant)
    return accounts
