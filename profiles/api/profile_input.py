"""A profile body that passed the validation chains (profiles_validation), as the profile
services take it: snake_case keys present only where the body had them, booleans from
`"true"`/`1`, integers from `"2"`, passwords as `Secret`, Wi-Fi and proxy links as `LinkInput`.
Shapes the chains let through element by element (a list where a name belongs) are refused here,
so the services only ever see clean input.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from profiles.api.profiles_validation import (
    ACTIVATION_VALUES,
    AMT_PASSWORD_FORMAT,
    BODY,
    BOOLEAN_FIELDS,
    MEBX_PASSWORD_FORMAT,
    NAME_FORMAT,
    SECRET_FIELDS,
    SIGNING_AUTHORITY_VALUES,
    TLS_MODE_VALUES,
    USER_CONSENT_VALUES,
    create_chains,
    update_chains,
)
from profiles.services.profiles import LinkInput
from rps_site.api.validation import MISSING, validate
from rps_site.errors import OperationFailed, ValidationFailed
from rps_site.sensitive import Secret


def _field_error(path: str, value: Any, message: str) -> ValidationFailed:
    error: dict[str, Any] = {"type": "field"}
    if path not in SECRET_FIELDS and value is not MISSING:
        error["value"] = value
    error.update({"msg": message, "path": path, "location": "body"})
    return ValidationFailed([error])


def _boolean(path: str, value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    raise _field_error(path, value, BOOLEAN_FIELDS[path])


def _text(path: str, value: Any, message: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    raise _field_error(path, value, message)


def _links(path: str, value: Any, name_key: str, profile_name: str) -> list[LinkInput] | None:
    if value is None:
        return None
    links = []
    for entry in value:
        name = entry.get(name_key) if isinstance(entry, dict) else None
        priority = entry.get("priority") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not isinstance(priority, int) or isinstance(priority, bool):
            # Q17: upstream inserts the profile and then fails with this very answer.
            raise OperationFailed(f"Operation failed: {profile_name}")
        links.append(LinkInput(name=name, priority=priority))
    return links


TEXT_FIELDS = {
    "profileName": NAME_FORMAT,
    "activation": ACTIVATION_VALUES,
    "tlsSigningAuthority": SIGNING_AUTHORITY_VALUES,
    "ciraConfigName": "CIRA config name must be a string",
    "ieee8021xProfileName": "Ieee8021x profile name must be a string",
    "userConsent": USER_CONSENT_VALUES,
}
SNAKE = {
    "profileName": "name",
    "activation": "activation",
    "amtPassword": "amt_password",
    "generateRandomPassword": "generate_random_password",
    "mebxPassword": "mebx_password",
    "generateRandomMEBxPassword": "generate_random_mebx_password",
    "tlsMode": "tls_mode",
    "tlsSigningAuthority": "tls_signing_authority",
    "ciraConfigName": "cira_config_name",
    "tags": "tags",
    "dhcpEnabled": "dhcp_enabled",
    "ipSyncEnabled": "ip_sync_enabled",
    "localWifiSyncEnabled": "local_wifi_sync_enabled",
    "uefiWifiSyncEnabled": "uefi_wifi_sync_enabled",
    "wifiConfigs": "wifi_configs",
    "proxyConfigs": "proxy_configs",
    "ieee8021xProfileName": "ieee8021x_profile_name",
    "userConsent": "user_consent",
    "iderEnabled": "ider_enabled",
    "kvmEnabled": "kvm_enabled",
    "solEnabled": "sol_enabled",
}


def normalise(body: Mapping[str, Any]) -> dict[str, Any]:
    """The validated body as service input: snake_case keys, present only where the body had them."""
    data: dict[str, Any] = {}
    profile_name = body.get("profileName")
    for key, target in SNAKE.items():
        if key not in body:
            continue
        value = body[key]
        if key in TEXT_FIELDS:
            data[target] = _text(key, value, TEXT_FIELDS[key])
        elif key in BOOLEAN_FIELDS:
            data[target] = _boolean(key, value)
        elif key in SECRET_FIELDS:
            message = AMT_PASSWORD_FORMAT if key == "amtPassword" else MEBX_PASSWORD_FORMAT
            data[target] = Secret.optional(_text(key, value, message))
        elif key == "tlsMode":
            data[target] = None if value is None else int(_text_or_number(key, value))
        elif key == "tags":
            if value is not None and not all(isinstance(tag, str) for tag in value):
                raise _field_error(key, value, "tags must be strings")
            data[target] = value
        elif key == "wifiConfigs":
            data[target] = _links(key, value, "profileName", str(profile_name))
        elif key == "proxyConfigs":
            data[target] = _links(key, value, "name", str(profile_name))
    return data


def _text_or_number(path: str, value: Any) -> str:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise _field_error(path, value, TLS_MODE_VALUES)


def validated_create(body: MutableMapping[str, Any], *, tenant_id: str) -> dict[str, Any]:
    validate(create_chains(tenant_id), body, secret_paths=SECRET_FIELDS, shapes=BODY)
    return normalise(body)


def validated_update(body: MutableMapping[str, Any], *, tenant_id: str) -> dict[str, Any]:
    validate(update_chains(tenant_id), body, secret_paths=SECRET_FIELDS, shapes=BODY)
    return normalise(body)
