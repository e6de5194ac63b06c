"""REST endpoints for IEEE 802.1X configs (rest-api.md §2.5): `/api/v1/admin/ieee8021xconfigs[/<name>]`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from profiles.api.common import is_json_number
from profiles.api.common import js_string as js_text
from profiles.api.resource import TenantResource
from profiles.models import Ieee8021xConfig
from profiles.selectors.profiles import profiles_using_ieee8021x_config
from profiles.services.ieee8021x_configs import (
    ieee8021x_config_create,
    ieee8021x_config_delete,
    ieee8021x_config_not_found,
    ieee8021x_config_update,
)
from rps_site.api.validation import (
    INT64,
    MISSING,
    Boolean,
    CustomCheckFailed,
    Field,
    Number,
    Shape,
    Text,
    js_regex,
    js_truthy,
)

NAME_SOURCE = r"^[a-zA-Z0-9]+$"
NAME = js_regex(NAME_SOURCE)
TRUE_TEXT = re.compile(r"true\Z", re.IGNORECASE)
SECRET_FIELDS = ("password",)
WIRED_PROTOCOLS = (0, 3, 5, 10, 2)
WIRELESS_PROTOCOLS = (0, 2)
WIRED_MESSAGE = (
    "Authentication protocol must be one of 0:EAP-TLS, 3:PEAPv1/EAP-GTC, 5:EAP-FAST/GTC, 10:EAP-FAST/TLS, "
    "2:PEAPv0/EAP-MSCHAPv2"
)
WIRELESS_MESSAGE = "Authentication protocol must be one of 0:EAP-TLS, 2:PEAPv0/EAP-MSCHAPv2"
PROTOCOL_NAMES = {0: "EAP-TLS", 2: "PEAPv0/EAP-MSCHAPv2", 3: "PEAPv1/EAP-GTC", 5: "EAP-FAST/GTC", 10: "EAP-FAST/TLS"}
# What the Enterprise Assistant answers (enterprise-assistant.md §3): upstream's REST rules accept
# 3, 5 and 10 for wired configs, and the activation then waits out the EA's silence (B5). The
# configs keep upstream's rules; a profile cannot use one of them (here and in profiles_validation).
ENTERPRISE_ASSISTANT_PROTOCOLS = (0, 2)


def enterprise_assistant_refusal(name: str, protocol: Any) -> str | None:
    """Why a profile cannot use an 802.1X config with this protocol, or None when it can."""
    if protocol in ENTERPRISE_ASSISTANT_PROTOCOLS:
        return None
    label = PROTOCOL_NAMES.get(protocol, "unknown")
    return (
        f"Ieee8021x profile {name} uses {protocol}:{label}, which the Enterprise Assistant does not serve; "
        "AMT profiles support 0:EAP-TLS and 2:PEAPv0/EAP-MSCHAPv2"
    )


BODY: dict[str, Shape] = {
    "profileName": Text(pattern=NAME_SOURCE),  # the chains allow 32
    "authenticationProtocol": Number(choices=WIRED_PROTOCOLS),
    "pxeTimeout": Number(),
    "wiredInterface": Boolean(),
    "activeInS0": Boolean(),
    "password": Text(),
    "serverName": Text(),
    "domain": Text(),
    "username": Text(),
    "roamingIdentity": Text(),
    "version": Number(INT64),
}


def _protocol_check(value: Any, body: Mapping[str, Any]) -> bool:
    wired = js_truthy(body.get("wiredInterface", MISSING))
    allowed = WIRED_PROTOCOLS if wired else WIRELESS_PROTOCOLS
    if not is_json_number(value) or value not in allowed:
        raise CustomCheckFailed(WIRED_MESSAGE if wired else WIRELESS_MESSAGE)
    return True


def _pxe_range(value: Any, body: Mapping[str, Any]) -> bool:
    if is_json_number(value) and not 0 <= value <= 86400:
        raise CustomCheckFailed("PXE Timeout value should be 0 - 86400")
    return True


def _is_wired_text(body: Mapping[str, Any]) -> bool:
    value = body.get("wiredInterface", MISSING)
    text = "undefined" if value is MISSING else js_text(value)
    return TRUE_TEXT.match(text) is not None


def _optional_text(field: str) -> Field:
    return Field(field).optional(nullable=True).raw(lambda value: isinstance(value, str), f"{field} must be a string")


def _not_in_use_with(tenant_id: str) -> Callable[[Any, Mapping[str, Any]], bool]:
    """An update may not give a config that profiles use a protocol they cannot be provisioned with."""

    def check(value: Any, body: Mapping[str, Any]) -> bool:
        name = body.get("profileName")
        refusal = enterprise_assistant_refusal(str(name), value) if is_json_number(value) else None
        if refusal and isinstance(name, str):
            users = profiles_using_ieee8021x_config(tenant_id=tenant_id, name=name)
            if users:
                raise CustomCheckFailed(f"{refusal} (used by AMT profiles {', '.join(users)})")
        return True

    return check


def chains(*, with_version: bool, tenant_id: str = "") -> list[Field]:
    fields = [
        Field("profileName")
        .not_empty("802.1x profile name is required")
        .matches(NAME, "802.1x profile name should be alphanumeric")
        .is_length(maximum=32, message="802.1x profile name maximum length is 32"),
        Field("wiredInterface").not_empty("Wired interface flag is required"),
        Field("authenticationProtocol").not_empty("Authentication protocol is required").custom(_protocol_check),
        Field("pxeTimeout")
        .if_(_is_wired_text)
        .not_empty("PXE Timeout is required")
        .raw(is_json_number, "PXE Timeout must be number")
        .custom(_pxe_range),
        _optional_text("password"),
        _optional_text("serverName"),
        _optional_text("domain"),
        _optional_text("username"),
        _optional_text("roamingIdentity"),
    ]
    if with_version:
        fields.append(Field("version").not_empty("Version is required to patch/update a record."))
        fields.append(Field("authenticationProtocol").custom(_not_in_use_with(tenant_id)))
    return fields


# A body the API accepts, published in the OpenAPI document.
EXAMPLE = {
    "profileName": "wired1",
    "authenticationProtocol": 0,
    "pxeTimeout": 120,
    "wiredInterface": True,
}


COLUMNS = ("name", "authentication_protocol", "pxe_timeout", "wired_interface", "tenant_id", "version")


def ieee8021x_config_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """Only these fields are ever returned: never the password, identities or server name."""
    return {
        "profileName": row["name"],
        "authenticationProtocol": row["authentication_protocol"],
        "pxeTimeout": row["pxe_timeout"],
        "wiredInterface": row["wired_interface"],
        "tenantId": row["tenant_id"],
        "version": str(row["version"]),
    }


class Ieee8021xConfigs(TenantResource):
    route = "ieee8021xconfigs"
    model = Ieee8021xConfig
    columns = COLUMNS
    record = staticmethod(ieee8021x_config_record)
    not_found = staticmethod(ieee8021x_config_not_found)
    body_shapes, example = BODY, EXAMPLE
    secret_fields = SECRET_FIELDS
    create_service = staticmethod(ieee8021x_config_create)
    update_service = staticmethod(ieee8021x_config_update)
    delete_service = staticmethod(ieee8021x_config_delete)

    def chains(self, *, update: bool) -> list[Field]:
        return chains(with_version=update, tenant_id=self.tenant_id)


urlpatterns = Ieee8021xConfigs.urls()
