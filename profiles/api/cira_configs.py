"""REST endpoints for CIRA configs (rest-api.md §2.2): `/api/v1/admin/ciraconfigs[/<name>]`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from profiles.api.common import is_json_number
from profiles.api.common import js_string as js_text
from profiles.api.resource import TenantResource
from profiles.models import CiraConfig
from profiles.services.cira_configs import (
    CiraConfigInput,
    cira_config_create,
    cira_config_delete,
    cira_config_not_found,
    cira_config_update,
)
from rps_site.api.validation import INT64, MISSING, Boolean, CustomCheckFailed, Field, Number, Shape, Text, js_regex
from rps_site.api.validation import js_string as builtin_js_string
from rps_site.errors import OperationFailed

NAME_SOURCE, USERNAME_SOURCE = r"^[a-zA-Z0-9_-]+$", r"^[a-zA-Z0-9]+$"
NAME, USERNAME = js_regex(NAME_SOURCE), js_regex(USERNAME_SOURCE)
ADDRESS_FORMATS, AUTH_METHODS = (3, 4, 201), (1, 2)
IPV4 = js_regex(
    r"^([01]?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])\.([01]?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])\."
    r"([01]?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])\.([01]?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])$"
)
# An un-grouped top-level alternation, used with search semantics exactly as upstream does.
IPV6 = js_regex(
    r"^((?:[0-9A-Fa-f]{1,4}))((?::[0-9A-Fa-f]{1,4}))*::((?:[0-9A-Fa-f]{1,4}))((?::[0-9A-Fa-f]{1,4}))*"
    r"|((?:[0-9A-Fa-f]{1,4}))((?::[0-9A-Fa-f]{1,4})){7}$"
)
FQDN = js_regex(r"^(?=.{1,254}$)((?=[a-z0-9-]{1,63}\.)(xn--+)?[a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,63}$")
SECRET_FIELDS = ("password",)
BODY: dict[str, Shape] = {
    "configName": Text(max_length=256, pattern=NAME_SOURCE),
    "serverAddressFormat": Number(choices=ADDRESS_FORMATS),
    "mpsServerAddress": Text(max_length=256),
    "mpsPort": Number(),
    "username": Text(pattern=USERNAME_SOURCE),  # the chains allow 5 to 16
    "commonName": Text(max_length=256),
    "authMethod": Number(choices=AUTH_METHODS),
    "mpsRootCertificate": Text(),
    "proxyDetails": Text(),
    "regeneratePassword": Boolean(),
    "password": Text(),
    "version": Number(INT64),
}
NAME_REQUIRED = "CIRA profile name is required"
NAME_RULE = "CIRA profile name accepts letters, numbers, underscore and hyphen only"
PORT_RANGE = "MPS Port value should range between 1024 and 49151"
CN_IS_IP = "Cert. Hostname(CN) should be an IP address."


def _missing_or_null(value: Any) -> bool:
    return value is MISSING or value is None


def server_address_check(value: Any, body: Mapping[str, Any]) -> bool:
    """The address must fit `serverAddressFormat` (compared strictly: a string "3" checks nothing)."""
    address_format = body.get("serverAddressFormat", MISSING)
    if _missing_or_null(address_format):
        raise CustomCheckFailed("serverAddressFormat is required")
    if _missing_or_null(value) or not is_json_number(address_format):
        return True
    text = js_text(value)
    if address_format == 3:
        if not IPV4.search(text):
            raise CustomCheckFailed("serverAddressFormat 3 requires IPV4 server address")
        if _missing_or_null(body.get("commonName", MISSING)):
            raise CustomCheckFailed("commonName is required when serverAddressFormat is 3")
    elif address_format == 4:
        if not IPV6.search(text):
            raise CustomCheckFailed("serverAddressFormat 4 requires IPV6 server address")
    elif address_format == 201 and not FQDN.search(text) and not IPV4.search(text):
        raise CustomCheckFailed("serverAddressFormat 201 requires FQDN server address")
    return True


def _format_is_not_fqdn(body: Mapping[str, Any]) -> bool:
    address_format = body.get("serverAddressFormat", MISSING)
    return not (is_json_number(address_format) and address_format == 201)


def create_chains() -> list[Field]:
    return [
        Field("configName").not_empty(NAME_REQUIRED).matches(NAME, NAME_RULE),
        Field("serverAddressFormat")
        .not_empty("MPS server address format is required")
        .is_in(ADDRESS_FORMATS, "MPS server address format should be either 3(IPV4) , 4(IPV6) or 201(FQDN)"),
        Field("mpsServerAddress").not_empty("MPS server address is required").custom(server_address_check),
        Field("mpsPort").not_empty("MPS port is required").is_int(minimum=1024, maximum=49151, message=PORT_RANGE),
        Field("username")
        .not_empty("MPS user name is required")
        .matches(USERNAME, "MPS user name should be alphanumeric")
        .is_length(minimum=5, maximum=16, message="MPS user name length should be in between 5 to 16"),
        Field("commonName").if_(_format_is_not_fqdn).optional().matches(IPV4, CN_IS_IP),
        Field("authMethod")
        .not_empty("Authentication method is required")
        .is_in(AUTH_METHODS, "Authentication method should be either 1 (Mutual Auth) or 2 (username and password)"),
        Field("mpsRootCertificate").not_empty("MPS public root certificate is required"),
        Field("proxyDetails").optional(),
        Field("password")
        .optional(nullable=True)
        .raw(lambda value: isinstance(value, str), "Password must be a string"),
    ]


def _port_check(value: Any, body: Mapping[str, Any]) -> bool:
    if not is_json_number(value) or value <= 1024 or value >= 49151:
        raise CustomCheckFailed(PORT_RANGE)
    return True


def _address_given(value: Any, body: Mapping[str, Any]) -> bool:
    if _missing_or_null(body.get("mpsServerAddress", MISSING)):
        raise CustomCheckFailed("Server address is required to update")
    return True


def _format_and_address_given(value: Any, body: Mapping[str, Any]) -> bool:
    if _missing_or_null(body.get("serverAddressFormat", MISSING)) or _missing_or_null(
        body.get("mpsServerAddress", MISSING)
    ):
        raise CustomCheckFailed("serverAddressFormat and mpsServerAddress is required")
    return True


def update_chains() -> list[Field]:
    return [
        Field("configName").not_empty(NAME_REQUIRED).matches(NAME, NAME_RULE),
        Field("serverAddressFormat")
        .optional()
        .is_in(ADDRESS_FORMATS, "MPS server address format 3(IPV4) , 4(IPV6) or 201(FQDN)")
        .custom(_address_given),
        Field("mpsServerAddress").optional().custom(server_address_check),
        Field("mpsPort").optional().custom(_port_check),
        Field("username")
        .optional()
        .matches(USERNAME, "MPS user name should be alphanumeric")
        .is_length(minimum=5, maximum=16, message="MPS user name length should be in between 5 to 16"),
        Field("commonName")
        .if_(_format_is_not_fqdn)
        .optional()
        .matches(IPV4, CN_IS_IP)
        .custom(_format_and_address_given),
        Field("authMethod")
        .optional()
        .is_in(AUTH_METHODS, "Authentication method accepts either 1 - Mutual Auth or 2 -username/password)"),
        Field("mpsRootCertificate").optional(),
        Field("proxyDetails").optional(),
        Field("regeneratePassword").optional().is_boolean(),
        Field("password")
        .optional(nullable=True)
        .raw(lambda value: isinstance(value, str), "Password must be a string"),
    ]


# A body the API accepts, published in the OpenAPI document.
EXAMPLE = {
    "configName": "cira1",
    "mpsServerAddress": "192.168.8.50",
    "mpsPort": 4433,
    "username": "admin",
    "commonName": "192.168.8.50",
    "serverAddressFormat": 3,
    "authMethod": 2,
    "mpsRootCertificate": "MIIEOzCCAqOgAwIBAgIDAQIDMA0GCSqGSIb3DQEBDAUA",
    "proxyDetails": "",
}


COLUMNS = (
    "name",
    "mps_server_address",
    "mps_port",
    "username",
    "common_name",
    "server_address_format",
    "auth_method",
    "mps_root_certificate",
    "proxy_details",
    "tenant_id",
    "version",
)


def cira_config_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape in upstream's key order; the MPS password is never part of it."""
    return {
        "configName": row["name"],
        "mpsServerAddress": row["mps_server_address"],
        "mpsPort": row["mps_port"],
        "username": row["username"],
        "commonName": row["common_name"],
        "serverAddressFormat": row["server_address_format"],
        "authMethod": row["auth_method"],
        "mpsRootCertificate": row["mps_root_certificate"],
        "proxyDetails": row["proxy_details"],
        "tenantId": row["tenant_id"],
        "version": str(row["version"]),
    }


# body field -> (CiraConfigInput field, conversion of a given value)
CONVERSIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "mpsServerAddress": ("mps_server_address", builtin_js_string),
    "mpsPort": ("mps_port", lambda value: int(float(builtin_js_string(value)))),
    "username": ("username", builtin_js_string),
    "commonName": ("common_name", builtin_js_string),
    "serverAddressFormat": ("server_address_format", lambda value: int(builtin_js_string(value))),
    "authMethod": ("auth_method", lambda value: int(builtin_js_string(value))),
    "mpsRootCertificate": ("mps_root_certificate", builtin_js_string),
    "proxyDetails": ("proxy_details", builtin_js_string),
}


def cira_config_input(body: Mapping[str, Any]) -> CiraConfigInput:
    """A validated create or update body (password wrapped as `Secret`) as the services take it."""
    try:
        given = {
            field: convert(body[key]) for key, (field, convert) in CONVERSIONS.items() if body.get(key) is not None
        }
    except (TypeError, ValueError):
        raise OperationFailed(f"Operation failed: {body.get('configName')}") from None
    return CiraConfigInput(name=builtin_js_string(body["configName"]), password=body.get("password") or None, **given)


class CiraConfigs(TenantResource):
    route = "ciraconfigs"
    model = CiraConfig
    columns = COLUMNS
    record = staticmethod(cira_config_record)
    not_found = staticmethod(cira_config_not_found)
    body_shapes, example = BODY, EXAMPLE
    secret_fields = SECRET_FIELDS
    create_service = staticmethod(cira_config_create)
    update_service = staticmethod(cira_config_update)
    delete_service = staticmethod(cira_config_delete)
    create_data = update_data = staticmethod(cira_config_input)
    if_match_sets_version = True

    def chains(self, *, update: bool) -> list[Field]:
        return update_chains() if update else create_chains()


urlpatterns = CiraConfigs.urls()
