"""Writes of IEEE 802.1X configs. The EAP password is write-only: it lives in Vault at
`IEEE8021xConfigs/<name>` (`PASSWORD`), never in the database (upstream kept it in a column).
A PATCH without a password keeps the stored one; a delete destroys it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import DataError, IntegrityError, transaction

from audit.services import audited_record_write
from profiles.models import Ieee8021xConfig
from profiles.services.named_records import locked_by_name, record_with_secret_delete
from rps_site.api.validation import MISSING, js_string
from rps_site.api.versions import next_version
from rps_site.errors import Duplicate, NotFound, OperationFailed, VersionConflict
from rps_site.sensitive import Secret
from rps_site.vault import atomic_with_secrets

PASSWORD = "PASSWORD"
DEFAULT_PXE_TIMEOUT = 120
PG_TRUE = {"t", "true", "y", "yes", "on", "1"}
PG_FALSE = {"f", "false", "n", "no", "off", "0"}
# optional identity fields: API name -> model field
IDENTITY_FIELDS = {
    "serverName": "server_name",
    "domain": "domain",
    "username": "username",
    "roamingIdentity": "roaming_identity",
}


def ieee8021x_config_not_found(name: str) -> NotFound:
    return NotFound(f"802.1x profile {name} Not Found")


def _boolean(value: Any) -> bool | None:
    """How PostgreSQL reads the value upstream sends it (`"false"` is false, `"abc"` an error)."""
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool):
        return value
    text = js_string(value).strip().lower()
    if text in PG_TRUE:
        return True
    if text in PG_FALSE:
        return False
    raise ValueError("not a boolean")


def _columns(data: Mapping[str, Any]) -> dict[str, Any]:
    pxe_timeout = data.get("pxeTimeout")
    columns: dict[str, Any] = {
        "authentication_protocol": int(data["authenticationProtocol"]),
        "pxe_timeout": int(pxe_timeout) if pxe_timeout is not None else DEFAULT_PXE_TIMEOUT,
        "wired_interface": _boolean(data.get("wiredInterface", MISSING)),
        "active_in_s0": _boolean(data.get("activeInS0", MISSING)),
    }
    for key, column in IDENTITY_FIELDS.items():
        value = data.get(key)
        columns[column] = js_string(value)[:255] if value is not None else None
    return columns


@audited_record_write("ieee8021xconfigs", "create", Ieee8021xConfig)
def ieee8021x_config_create(*, tenant_id: str, data: Mapping[str, Any]) -> Ieee8021xConfig:
    """`data` is a validated create body; `password`, when given, is a `Secret`."""
    name = js_string(data["profileName"])
    password: Secret | None = data.get("password") or None
    try:
        columns = _columns(data)
    except (TypeError, ValueError):
        raise OperationFailed(f"802.1x insertion failed for {name}") from None
    try:
        with atomic_with_secrets() as secrets:
            config = Ieee8021xConfig.objects.create(tenant_id=tenant_id, name=name, version=next_version(), **columns)
            if password:
                secrets.create(config.secret_path, {PASSWORD: password})
    except IntegrityError:
        raise Duplicate(f"802.1x config: {name} already exists") from None
    except DataError:
        raise OperationFailed(f"802.1x insertion failed for {name}") from None
    return config


@audited_record_write("ieee8021xconfigs", "update", Ieee8021xConfig)
def ieee8021x_config_update(
    *, tenant_id: str, data: Mapping[str, Any], expected_version: int | None
) -> Ieee8021xConfig:
    """Full replacement of the stored fields by the body, if the stored version is
    `expected_version`; the password only when one is sent."""
    name = js_string(data["profileName"])
    password: Secret | None = data.get("password") or None
    with atomic_with_secrets() as secrets:
        config = locked_by_name(Ieee8021xConfig, tenant_id=tenant_id, name=name, not_found=ieee8021x_config_not_found)
        overlay = {"pxeTimeout": config.pxe_timeout, **data}
        try:
            columns = _columns(overlay)
            with transaction.atomic():
                updated = expected_version is not None and (
                    Ieee8021xConfig.objects.filter(pk=config.pk, version=expected_version).update(
                        version=next_version(), **columns
                    )
                )
        except (TypeError, ValueError, IntegrityError, DataError):
            raise OperationFailed(f"Operation failed: {name}") from None
        if not updated:
            raise VersionConflict(config, config.version)
        if password:
            secrets.replace(config.secret_path, {PASSWORD: password})
    config.refresh_from_db()
    return config


def _in_use(config: Ieee8021xConfig, name: str) -> OperationFailed | None:
    """Upstream answers these as plain errors, not as a foreign key violation (naming the record
    as the request did)."""
    if config.profiles.exists():
        return OperationFailed(f"802.1x config: {name} is associated with an AMT Profile.")
    if config.wireless_configs.exists():
        return OperationFailed(f"802.1x config: {name} is associated with a wireless profile.")
    return None


@audited_record_write("ieee8021xconfigs", "delete", Ieee8021xConfig)
def ieee8021x_config_delete(*, tenant_id: str, name: str) -> None:
    record_with_secret_delete(
        Ieee8021xConfig,
        tenant_id=tenant_id,
        name=name,
        not_found=ieee8021x_config_not_found,
        refusal=lambda config: _in_use(config, name),
    )
