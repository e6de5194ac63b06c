"""Writes of CIRA configs. The MPS password lives only in Vault at `CIRAConfigs/<name>`
(`MPS_PASSWORD`), written by POST and by PATCH (upstream wrote a PATCHed password into the
database in clear text, Q6); the row and the secret commit together or not at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import DataError, IntegrityError

from profiles.models import CiraConfig
from profiles.services.named_records import locked_by_name, record_with_secret_delete
from rps_site.api.validation import MISSING, js_string
from rps_site.api.versions import next_version
from rps_site.errors import Duplicate, InUse, NotFound, OperationFailed, VersionConflict
from rps_site.sensitive import Secret
from rps_site.vault import atomic_with_secrets

MPS_PASSWORD = "MPS_PASSWORD"

# API field -> (model field, conversion)
FIELDS: dict[str, tuple[str, Any]] = {
    "mpsServerAddress": ("mps_server_address", js_string),
    "mpsPort": ("mps_port", lambda value: int(float(js_string(value)))),
    "username": ("username", js_string),
    "commonName": ("common_name", js_string),
    "serverAddressFormat": ("server_address_format", lambda value: int(js_string(value))),
    "authMethod": ("auth_method", lambda value: int(js_string(value))),
    "mpsRootCertificate": ("mps_root_certificate", js_string),
    "proxyDetails": ("proxy_details", js_string),
}


def cira_config_not_found(name: str) -> NotFound:
    return NotFound(f"CIRA profile {name} Not Found")


def _given(value: Any) -> bool:
    return value is not MISSING and value is not None


def _columns(data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return {column: convert(data[key]) for key, (column, convert) in FIELDS.items() if _given(data.get(key))}
    except (TypeError, ValueError):
        raise OperationFailed(f"Operation failed: {data.get('configName')}") from None


def cira_config_create(*, tenant_id: str, data: Mapping[str, Any]) -> CiraConfig:
    """`data` is a validated create body; `password`, when given, is a `Secret`."""
    name = js_string(data["configName"])
    password: Secret | None = data.get("password") or None
    try:
        with atomic_with_secrets() as secrets:
            config = CiraConfig.objects.create(tenant_id=tenant_id, name=name, version=next_version(), **_columns(data))
            if password:
                secrets.create(config.secret_path, {MPS_PASSWORD: password})
    except IntegrityError:
        raise Duplicate(f"CIRA Config {name} already exists.") from None
    except DataError:
        raise OperationFailed(f"Operation failed: {name}") from None
    return config


def cira_config_update(*, tenant_id: str, data: Mapping[str, Any], expected_version: int | None) -> CiraConfig:
    """Every given field replaces the stored one, if the stored version is `expected_version`; a
    given password replaces the Vault secret."""
    name = js_string(data["configName"])
    password: Secret | None = data.get("password") or None
    try:
        with atomic_with_secrets() as secrets:
            config = locked_by_name(CiraConfig, tenant_id=tenant_id, name=name, not_found=cira_config_not_found)
            changes = _columns(data)
            if expected_version is None or not CiraConfig.objects.filter(pk=config.pk, version=expected_version).update(
                version=next_version(), **changes
            ):
                raise VersionConflict(config, config.version)
            if password:
                secrets.replace(config.secret_path, {MPS_PASSWORD: password})
    except (IntegrityError, DataError):
        raise OperationFailed(f"Operation failed: {name}") from None
    config.refresh_from_db()
    return config


def cira_config_delete(*, tenant_id: str, name: str) -> None:
    record_with_secret_delete(
        CiraConfig,
        tenant_id=tenant_id,
        name=name,
        not_found=cira_config_not_found,
        refusal=lambda config: (
            InUse(f"CIRA Config: {name} is associated with an AMT profile") if config.profiles.exists() else None
        ),
    )
