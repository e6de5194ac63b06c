"""Writes of wireless configs. A PSK passphrase lives only in Vault at `Wireless/<name>`
(`PSK_PASSPHRASE`); the database never holds it, not even after a PATCH (upstream Q5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import DataError, IntegrityError, transaction

from audit.services import audited_record_write
from profiles.models import WirelessConfig
from profiles.selectors.wireless_configs import ieee8021x_config_for_wireless
from profiles.services.named_records import record_with_secret_delete
from rps_site.api.validation import MISSING, js_string
from rps_site.api.versions import next_version
from rps_site.errors import Duplicate, InUse, NotFound, OperationFailed, VersionConflict
from rps_site.sensitive import Secret
from rps_site.vault import atomic_with_secrets

PSK_PASSPHRASE = "PSK_PASSPHRASE"


def wireless_config_not_found(name: str) -> NotFound:
    return NotFound(f"Wireless profile {name} Not Found")


def _operation_failed(name: str) -> OperationFailed:
    return OperationFailed(f"Operation failed for Wireless profile: {name}")


def _integer(value: Any) -> int | None:
    if value is MISSING or value is None:
        return None
    return int(float(js_string(value)))


def _columns(tenant_id: str, data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Model fields from a validated body; every key present in the body wins (full replacement)."""
    columns: dict[str, Any] = {}
    try:
        if "authenticationMethod" in data:
            columns["authentication_method"] = _integer(data["authenticationMethod"])
        if "encryptionMethod" in data:
            columns["encryption_method"] = _integer(data["encryptionMethod"])
        if "ssid" in data:
            columns["ssid"] = js_string(data["ssid"])
        if "pskValue" in data:
            columns["psk_value"] = _integer(data["pskValue"])
        if "linkPolicy" in data:
            columns["link_policy"] = data["linkPolicy"]
    except (TypeError, ValueError):
        raise _operation_failed(name) from None
    if "ieee8021xProfileName" in data:
        reference = data["ieee8021xProfileName"]
        if reference is None or reference == "":
            columns["ieee8021x_config"] = None
        else:
            linked = ieee8021x_config_for_wireless(tenant_id=tenant_id, name=js_string(reference))
            if linked is None:
                raise _operation_failed(name)
            columns["ieee8021x_config"] = linked
    return columns


@audited_record_write("wirelessconfigs", "create", WirelessConfig)
def wireless_config_create(*, tenant_id: str, data: Mapping[str, Any]) -> WirelessConfig:
    """`data` is a validated create body; `pskPassphrase`, when given, is a `Secret`."""
    name = js_string(data["profileName"])
    passphrase: Secret | None = data.get("pskPassphrase") or None
    columns = _columns(tenant_id, data, name)
    try:
        with atomic_with_secrets() as secrets:
            config = WirelessConfig.objects.create(tenant_id=tenant_id, name=name, version=next_version(), **columns)
            # As upstream: an 802.1X profile authenticates with EAP, so a passphrase is not kept.
            if passphrase and config.ieee8021x_config is None:
                secrets.create(config.secret_path, {PSK_PASSPHRASE: passphrase})
    except IntegrityError:
        raise Duplicate(f"Wireless profile {name} already exists") from None
    except DataError:
        raise _operation_failed(name) from None
    return config


@audited_record_write("wirelessconfigs", "update", WirelessConfig)
def wireless_config_update(*, tenant_id: str, data: Mapping[str, Any], expected_version: int | None) -> WirelessConfig:
    """Every field the body holds replaces the stored one, if the stored version is
    `expected_version`; a passphrase replaces the Vault secret (not kept for 802.1X)."""
    name = js_string(data["profileName"])
    passphrase: Secret | None = data.get("pskPassphrase") or None
    with atomic_with_secrets() as secrets:
        config = (
            WirelessConfig.objects.select_for_update(of=("self",))
            .select_related("ieee8021x_config")
            .for_tenant(tenant_id)
            .named(name)
            .first()
        )
        if config is None:
            raise wireless_config_not_found(name)
        columns = _columns(tenant_id, data, name)
        if "ieee8021x_config" in columns:
            linked = columns.pop("ieee8021x_config")
            columns["ieee8021x_config_id"] = linked.pk if linked is not None else None
        try:
            with transaction.atomic():
                updated = expected_version is not None and (
                    WirelessConfig.objects.filter(pk=config.pk, version=expected_version).update(
                        version=next_version(), **columns
                    )
                )
        except (IntegrityError, DataError):
            raise _operation_failed(name) from None
        if not updated:
            raise VersionConflict(config, config.version)
        linked_id = columns.get("ieee8021x_config_id", config.ieee8021x_config_id)
        if passphrase and linked_id is None:
            secrets.replace(config.secret_path, {PSK_PASSPHRASE: passphrase})
    return WirelessConfig.objects.select_related("ieee8021x_config").get(pk=config.pk)


@audited_record_write("wirelessconfigs", "delete", WirelessConfig)
def wireless_config_delete(*, tenant_id: str, name: str) -> None:
    record_with_secret_delete(
        WirelessConfig,
        tenant_id=tenant_id,
        name=name,
        not_found=wireless_config_not_found,
        refusal=lambda config: (
            InUse(f"Wireless profile: {name} is associated with an AMT Profile.")
            if config.profile_links.exists()
            else None
        ),
    )
