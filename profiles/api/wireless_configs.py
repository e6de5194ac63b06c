"""REST endpoints for wireless configs (rest-api.md §2.4): `/api/v1/admin/wirelessconfigs[/<name>]`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from profiles.api.common import js_string as js_text
from profiles.api.common import strict_equals
from profiles.api.resource import TenantResource
from profiles.models import WirelessConfig
from profiles.selectors.wireless_configs import ieee8021x_config_for_wireless
from profiles.services.wireless_configs import (
    wireless_config_create,
    wireless_config_delete,
    wireless_config_not_found,
    wireless_config_update,
)
from rps_site.api.validation import INT64, MISSING, ArrayOf, CustomCheckFailed, Field, Number, Shape, Text, js_regex

NAME_SOURCE = r"^[a-zA-Z0-9]+$"
NAME = js_regex(NAME_SOURCE)
AUTHENTICATION_METHODS, ENCRYPTION_METHODS = (4, 5, 6, 7), (3, 4)
SECRET_FIELDS = ("pskPassphrase",)
PSK_METHODS = (4, 6)
IEEE8021X_METHODS = (5, 7)
LINK_POLICIES = (1, 14, 16, 224)
BODY: dict[str, Shape] = {
    "profileName": Text(pattern=NAME_SOURCE),  # the chains allow 32
    "authenticationMethod": Number(choices=AUTHENTICATION_METHODS),
    "encryptionMethod": Number(choices=ENCRYPTION_METHODS),
    "ssid": Text(),
    "pskPassphrase": Text(),
    "pskValue": Number(),
    "linkPolicy": ArrayOf(Number(choices=LINK_POLICIES)),
    "ieee8021xProfileName": Text(),
    "version": Number(INT64),
}


def _method_is(methods: tuple[int, ...]) -> Any:
    return lambda body: any(strict_equals(body.get("authenticationMethod", MISSING), method) for method in methods)


def _every(value: Any) -> list[Any]:
    """JavaScript's `value.every(...)` on a non-array throws; its text becomes the message."""
    if isinstance(value, list):
        return value
    if value is None:
        raise CustomCheckFailed("Cannot read properties of null (reading 'every')")
    raise CustomCheckFailed("value.every is not a function")


def _all_integers(value: Any, body: Mapping[str, Any]) -> bool:
    items = _every(value)
    return all(
        isinstance(item, int) and not isinstance(item, bool) or (isinstance(item, float) and item.is_integer())
        for item in items
    )


def _all_link_policies(value: Any, body: Mapping[str, Any]) -> bool:
    return all(any(strict_equals(item, policy) for policy in LINK_POLICIES) for item in _every(value))


def chains(tenant_id: str, *, with_version: bool) -> list[Field]:
    def ieee8021x_exists(value: Any, body: Mapping[str, Any]) -> bool:
        linked = ieee8021x_config_for_wireless(tenant_id=tenant_id, name=js_text(value))
        if linked is None:
            raise CustomCheckFailed(f"Ieee8021x profile {js_text(value)} does not exist in db")
        return True

    def ieee8021x_is_wireless(value: Any, body: Mapping[str, Any]) -> bool:
        linked = ieee8021x_config_for_wireless(tenant_id=tenant_id, name=js_text(value))
        if linked is not None and linked.wired_interface:
            raise CustomCheckFailed(f"Ieee8021x profile {js_text(value)} is for wired interfaces")
        return True

    fields = [
        Field("profileName")
        .not_empty("Wireless profile name is required")
        .matches(NAME, "Wireless profile name should be alphanumeric")
        .is_length(maximum=32, message="Wireless profile name maximum length is 32"),
        Field("authenticationMethod")
        .not_empty("Authentication method is required")
        .is_in(
            AUTHENTICATION_METHODS,
            "Authentication method must be one of 4:WPA PSK, 5:WPA IEEE 802.1x, 6:WPA2 PSK, 7:WPA2 IEEE 802.1x",
        ),
        Field("encryptionMethod")
        .not_empty("Encryption method is required")
        .is_in(ENCRYPTION_METHODS, "Encryption method must be one of 3:TKIP, 4:CCMP"),
        Field("ssid").not_empty("SSID is required").is_length(maximum=32, message="Maximum length is 32"),
        Field("pskPassphrase")
        .if_(_method_is(PSK_METHODS))
        .is_length(
            minimum=8,
            maximum=63,
            message="PSK Passphrase length should be greater than or equal to 8 and less than or equal to 63",
        ),
        Field("ieee8021xProfileName").if_(_method_is(IEEE8021X_METHODS)).not_empty("ieee8021xProfileName is required"),
        Field("ieee8021xProfileName")
        .if_(lambda body: not _method_is(IEEE8021X_METHODS)(body))
        .is_empty("ieee8021xProfileName can not be specified with the provided authenticationMethod"),
        Field("ieee8021xProfileName").optional(nullable=True).custom(ieee8021x_exists).custom(ieee8021x_is_wireless),
        Field("linkPolicy")
        .optional()
        .is_array("LinkPolicy should be an array of integers")
        .custom(_all_integers, "Array does not contain integers")
        .custom(
            _all_link_policies,
            "Array values should be either 1: available on S0 AC, 14: available on Sx AC, "
            "16: available on S0 DC, 224: available on Sx DC",
        ),
    ]
    if with_version:
        fields.append(Field("version").not_empty("Version is required to patch/update a record."))
    return fields


# A body the API accepts, published in the OpenAPI document.
EXAMPLE = {
    "profileName": "wifi1",
    "authenticationMethod": 6,
    "encryptionMethod": 4,
    "ssid": "office",
    "pskPassphrase": "Passphrase-123",
    "linkPolicy": [14, 16],
}


COLUMNS = (
    "name",
    "authentication_method",
    "encryption_method",
    "ssid",
    "psk_value",
    "link_policy",
    "tenant_id",
    "ieee8021x_config__name",
    "version",
)


def wireless_config_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape in upstream's key order; the passphrase is never part of it."""
    return {
        "profileName": row["name"],
        "authenticationMethod": row["authentication_method"],
        "encryptionMethod": row["encryption_method"],
        "ssid": row["ssid"],
        "pskValue": row["psk_value"],
        "linkPolicy": row["link_policy"],
        "tenantId": row["tenant_id"],
        "ieee8021xProfileName": row["ieee8021x_config__name"],
        "version": str(row["version"]),
    }


class WirelessConfigs(TenantResource):
    route = "wirelessconfigs"
    model = WirelessConfig
    columns = COLUMNS
    record = staticmethod(wireless_config_record)
    not_found = staticmethod(wireless_config_not_found)
    body_shapes, example = BODY, EXAMPLE
    secret_fields = SECRET_FIELDS
    create_service = staticmethod(wireless_config_create)
    update_service = staticmethod(wireless_config_update)
    delete_service = staticmethod(wireless_config_delete)

    def chains(self, *, update: bool) -> list[Field]:
        return chains(self.tenant_id, with_version=update)

    def list_records(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """List items carry upstream's window count as a string, between linkPolicy and tenantId."""
        total = str(self.paginator.count()) if rows else "0"  # type: ignore[union-attr]
        return [_with_total_count(record, total) for record in self.records(rows)]

    def updated_record(self, instance: WirelessConfig) -> dict[str, Any]:  # type: ignore[override]
        record = self.record_of(instance)
        del record["pskValue"]  # upstream's PATCH answer leaves it out
        return record


def _with_total_count(record: dict[str, Any], total: str) -> dict[str, Any]:
    items = list(record.items())
    position = [key for key, _ in items].index("tenantId")
    items.insert(position, ("total_count", total))
    return dict(items)


urlpatterns = WirelessConfigs.urls()
