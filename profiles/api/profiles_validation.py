"""Request validation for AMT profiles, chain for chain as upstream's amtProfileValidator.ts.

`create_chains` / `update_chains` reproduce the error messages, order and multiplicity the
upstream clients and the Postman suite compare by index (rest-api.md §2.3); `BODY` is the
fields' shapes. After the chains pass, `profile_input.normalise` makes the service input.

Deliberate differences from upstream: the AMT password strength rule also runs when
`generateRandomPassword` is omitted (Q8: upstream skips it and stores `abc`), and wifi/proxy
priorities must be integers up front (Q17: upstream half-writes the profile, then fails).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from profiles.api.ieee8021x_configs import enterprise_assistant_refusal
from profiles.models import ActivationMode, Ieee8021xConfig
from profiles.selectors import profiles as profile_selectors
from rps_site.api.validation import (
    INT64,
    MISSING,
    ArrayOf,
    Boolean,
    CustomCheckFailed,
    Field,
    Number,
    Record,
    Shape,
    Text,
    js_truthy,
)

CLIENT_ACTIONS = (
    "invalid",
    "acmactivate",
    "ccmactivate",
    "deactivate",
    "ciraconfig",
    "networkConfig",
    "tlsConfig",
    "maintenance",
)
USER_CONSENTS = ("None", "All", "KVM")
SIGNING_AUTHORITIES = ("SelfSigned", "MicrosoftCA")

# `&-_` inside the class is a range (0x26-0x5F), as in upstream's JavaScript pattern.
PROFILE_NAME = r"^[a-zA-Z0-9$@$!%*#?&-_~^]+\Z"
PASSWORD = r"^(?=.*[0-9])(?=.*[!@#$%^&*])(?=.*[a-z])(?=.*[A-Z])[a-zA-Z0-9$@$!%*#?&-_~^]{8,32}\Z"

NAME_REQUIRED = "AMT profile name is required"
NAME_FORMAT = "AMT profile name accepts letters, numbers, special characters and no spaces"
ACTIVATION_REQUIRED = "Activation is required"
ACTIVATION_VALUES = (
    "Activation accepts either acmactivate (admin control activation) or ccmactivate (client control mode activation)"
)
AMT_PASSWORD_FORMAT = (
    "AMT password is required field should contains at least one lowercase letter, one uppercase letter, "
    "one numeric digit,and one special character and password length should be in between 8 to 32."
)
MEBX_PASSWORD_FORMAT = (
    "MEBx password is required field should contains at least one lowercase letter, one uppercase letter, "
    "one numeric digit,and one special character and password length should be in between 8 to 32."
)
RANDOM_AMT_BOOLEAN = "Generate random AMT password must be a boolean true or false"
RANDOM_MEBX_BOOLEAN = "Generate random MEBx password must be a boolean true or false"
TLS_MODE_VALUES = (
    "tlsMode must be set to one of these values: 1 (Server Authentication Only), 2 (Server and Non-TLS "
    "Authentication), 3 (Mutual TLS only), 4 (Mutual and Non-TLS authentication)"
)
SIGNING_AUTHORITY_VALUES = "TLS Signing Authority must be one of SelfSigned,MicrosoftCA"
USER_CONSENT_VALUES = "User consent must be one of None,All,KVM"
VERSION_REQUIRED = "Version is required to patch/update a record."
MAX_WIFI_CONFIGS = 8
MAX_PROXY_CONFIGS = 15

SECRET_FIELDS = ("amtPassword", "mebxPassword")
BOOLEAN_FIELDS = {
    "generateRandomPassword": RANDOM_AMT_BOOLEAN,
    "generateRandomMEBxPassword": RANDOM_MEBX_BOOLEAN,
    "dhcpEnabled": "DHCP enabled must be a boolean",
    "ipSyncEnabled": "ipSyncEnabled must be a boolean",
    "localWifiSyncEnabled": "localWifiSyncEnabled must be a boolean",
    "uefiWifiSyncEnabled": "uefiWifiSyncEnabled must be a boolean",
    "iderEnabled": "IDER enabled must be a boolean",
    "kvmEnabled": "KVM enabled must be a boolean",
    "solEnabled": "Serial Over Lan (sol) enabled must be a boolean",
}


def _present(body: Mapping[str, Any], key: str) -> bool:
    """JavaScript `body[key] != null`."""
    return body.get(key, MISSING) not in (MISSING, None)


# --- custom checks shared by create and update ----------------------------------------------------


def _activation_passwords(value: Any, body: Mapping[str, Any]) -> bool:
    if not _present(body, "amtPassword") and not js_truthy(body.get("generateRandomPassword", MISSING)):
        raise CustomCheckFailed("Either generateRandomPassword should be enabled or provide amtPassword")
    if (
        value == ActivationMode.ACM
        and not _present(body, "mebxPassword")
        and not js_truthy(body.get("generateRandomMEBxPassword", MISSING))
    ):
        raise CustomCheckFailed("MEBx Password is required for acmactivate")
    return True


def _random_amt_on_create(value: Any, body: Mapping[str, Any]) -> bool:
    if value is True:
        if _present(body, "amtPassword"):
            raise CustomCheckFailed(
                "Either generate Random AMT Password should be enabled or should provide AMT Password but not both"
            )
    elif not _present(body, "amtPassword"):
        raise CustomCheckFailed("If generate random AMT password is disabled, amtPassword is mandatory")
    return True


def _random_amt_on_update(value: Any, body: Mapping[str, Any]) -> bool:
    if value is True and _present(body, "amtPassword"):
        raise CustomCheckFailed(
            "Either generate Random AMT Password should be enabled or should provide AMT Password but not both"
        )
    return True


def _random_mebx_on_create(value: Any, body: Mapping[str, Any]) -> bool:
    if body.get("activation") == ActivationMode.ACM:
        if value is True:
            if _present(body, "mebxPassword"):
                raise CustomCheckFailed(
                    "Either generate MEBx password should be enabled or should provide MEBx password, but not both"
                )
        elif not _present(body, "mebxPassword"):
            raise CustomCheckFailed("If generate random MEBx password is disabled, mebxPassword is mandatory")
    return True


def _random_mebx_on_update(value: Any, body: Mapping[str, Any]) -> bool:
    if body.get("activation") == ActivationMode.ACM and value is True and _present(body, "mebxPassword"):
        raise CustomCheckFailed(
            "Either generate MEBx password should be enabled or should provide MEBx password, but not both"
        )
    return True


def _cira_without_tls(value: Any, body: Mapping[str, Any]) -> bool:
    if _present(body, "tlsMode"):
        raise CustomCheckFailed("CIRA cannot be configured if TLS is enabled")
    return True


def _user_consent_for_ccm(value: Any, body: Mapping[str, Any]) -> bool:
    if body.get("activation") == ActivationMode.CCM and value != "All":
        raise CustomCheckFailed("User consent is required for all the actions in client control mode")
    return True


def _entries(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise CustomCheckFailed("value is not iterable")
    return value


def _priority_out_of_range(entry: Any) -> bool:
    priority = entry.get("priority") if isinstance(entry, dict) else None
    return isinstance(priority, int) and not isinstance(priority, bool) and not 1 <= priority <= 255


def _names(entries: list[Any], key: str) -> list[Any]:
    return [entry.get(key) if isinstance(entry, dict) else None for entry in entries]


def _js_join(names: list[Any]) -> str:
    return ",".join("" if name is None else str(name) for name in names)


def _wifi_links(tenant_id: str, *, on_update: bool) -> Callable[[Any, Mapping[str, Any]], bool]:
    def check(value: Any, body: Mapping[str, Any]) -> bool:
        entries = _entries(value)
        if on_update and entries and body.get("dhcpEnabled", MISSING) in (MISSING, None):
            raise CustomCheckFailed("DHCP enabled should be true")
        if not js_truthy(body.get("dhcpEnabled", MISSING)) and entries:
            raise CustomCheckFailed("Wifi supports only DHCP in AMT")
        _check_links(
            entries,
            kind="wifi",
            maximum=MAX_WIFI_CONFIGS,
            missing=profile_selectors.wireless_names_missing,
            tenant_id=tenant_id,
            name_key="profileName",
        )
        return True

    return check


def _proxy_links(tenant_id: str) -> Callable[[Any, Mapping[str, Any]], bool]:
    def check(value: Any, body: Mapping[str, Any]) -> bool:
        _check_links(
            _entries(value),
            kind="proxy",
            maximum=MAX_PROXY_CONFIGS,
            missing=profile_selectors.proxy_names_missing,
            tenant_id=tenant_id,
            name_key="name",
        )
        return True

    return check


def _check_links(
    entries: list[Any], *, kind: str, maximum: int, missing: Callable[..., list[Any]], tenant_id: str, name_key: str
) -> None:
    """A profile's wifi or proxy list: how many, their priorities, and that the tenant has them."""
    if len(entries) > maximum:
        raise CustomCheckFailed(f"A maximum of {maximum} {kind} profiles can be stored at a time.")
    if any(_priority_out_of_range(entry) for entry in entries):
        raise CustomCheckFailed(f"{kind} config priority should be an integer and between 1 and 255")
    unknown = missing(tenant_id=tenant_id, names=_names(entries, name_key))
    if unknown:
        raise CustomCheckFailed(f"{kind} configs {_js_join(unknown)} does not exists in db")


def _ieee8021x_wired(tenant_id: str) -> Callable[[Any, Mapping[str, Any]], bool]:
    def check(value: Any, body: Mapping[str, Any]) -> bool:
        config = profile_selectors.ieee8021x_config_find(tenant_id=tenant_id, name=value)
        if config is None:
            raise CustomCheckFailed(f"Ieee8021x profile {value} does not exist in db")
        if not config.wired_interface:
            raise CustomCheckFailed(f"Ieee8021x profile {value} is for wireless interfaces")
        _served_by_the_enterprise_assistant(config)
        return True

    return check


def _ieee8021x_exists(tenant_id: str) -> Callable[[Any, Mapping[str, Any]], bool]:
    def check(value: Any, body: Mapping[str, Any]) -> bool:
        config = profile_selectors.ieee8021x_config_find(tenant_id=tenant_id, name=value)
        if config is None:
            raise CustomCheckFailed(f"IEEEProfile config {value} does not exists in db")
        _served_by_the_enterprise_assistant(config)
        return True

    return check


def _served_by_the_enterprise_assistant(config: Ieee8021xConfig) -> None:
    """Refused here rather than timed out at activation (enterprise-assistant.md §3, B5)."""
    refusal = enterprise_assistant_refusal(config.name, config.authentication_protocol)
    if refusal:
        raise CustomCheckFailed(refusal)


def _common_tail(tenant_id: str, *, on_update: bool) -> list[Field]:
    """Chains 7.. (tlsMode to solEnabled), identical on create and update but for a few rules."""
    chains = [
        Field("tlsMode").optional(nullable=True).is_int(minimum=1, maximum=4, message=TLS_MODE_VALUES),
        Field("tlsSigningAuthority").optional(nullable=True).is_in(SIGNING_AUTHORITIES, SIGNING_AUTHORITY_VALUES),
        Field("ciraConfigName").optional(nullable=True).custom(_cira_without_tls),
        Field("tags").optional(nullable=True).is_array(),
    ]
    if on_update:
        chains.append(Field("dhcpEnabled").optional().is_boolean(BOOLEAN_FIELDS["dhcpEnabled"]))
    else:
        chains.append(Field("dhcpEnabled").not_empty().is_boolean(BOOLEAN_FIELDS["dhcpEnabled"]))
    for name in ("ipSyncEnabled", "localWifiSyncEnabled", "uefiWifiSyncEnabled"):
        chains.append(Field(name).optional(nullable=True).is_boolean(BOOLEAN_FIELDS[name]))
    chains += [
        Field("wifiConfigs").optional(nullable=True).is_array().custom(_wifi_links(tenant_id, on_update=on_update)),
        Field("proxyConfigs").optional(nullable=True).is_array().custom(_proxy_links(tenant_id)),
        Field("ieee8021xProfileName")
        .optional(nullable=True)
        .custom(_ieee8021x_exists(tenant_id) if on_update else _ieee8021x_wired(tenant_id)),
        Field("userConsent")
        .optional(nullable=True)
        .is_in(USER_CONSENTS, USER_CONSENT_VALUES)
        .custom(_user_consent_for_ccm),
    ]
    for name in ("iderEnabled", "kvmEnabled", "solEnabled"):
        chains.append(Field(name).optional(nullable=True).is_boolean(BOOLEAN_FIELDS[name]))
    return chains


def create_chains(tenant_id: str) -> list[Field]:
    return [
        Field("profileName").not_empty(NAME_REQUIRED).matches(PROFILE_NAME, NAME_FORMAT),
        Field("activation")
        .not_empty(ACTIVATION_REQUIRED)
        .is_in(CLIENT_ACTIONS, ACTIVATION_VALUES)
        .custom(_activation_passwords),
        # Q8: checked unless a random password was asked for (upstream: only if the flag is sent as false).
        Field("amtPassword")
        .if_(lambda body: body.get("generateRandomPassword", MISSING) is not True)
        .optional()
        .matches(PASSWORD, AMT_PASSWORD_FORMAT),
        Field("generateRandomPassword").default(False).is_boolean(RANDOM_AMT_BOOLEAN).custom(_random_amt_on_create),
        Field("mebxPassword").optional(nullable=True).matches(PASSWORD, MEBX_PASSWORD_FORMAT),
        Field("generateRandomMEBxPassword")
        .default(False)
        .is_boolean(RANDOM_MEBX_BOOLEAN)
        .custom(_random_mebx_on_create),
        *_common_tail(tenant_id, on_update=False),
    ]


def update_chains(tenant_id: str) -> list[Field]:
    return [
        Field("profileName").not_empty(NAME_REQUIRED).matches(PROFILE_NAME, NAME_FORMAT),
        Field("activation").is_in(CLIENT_ACTIONS, ACTIVATION_VALUES),
        Field("amtPassword").optional(nullable=True).matches(PASSWORD, AMT_PASSWORD_FORMAT),
        Field("generateRandomPassword").optional().is_boolean(RANDOM_AMT_BOOLEAN).custom(_random_amt_on_update),
        Field("mebxPassword").optional(nullable=True).matches(PASSWORD, MEBX_PASSWORD_FORMAT),
        Field("generateRandomMEBxPassword").optional().is_boolean(RANDOM_MEBX_BOOLEAN).custom(_random_mebx_on_update),
        *_common_tail(tenant_id, on_update=True),
        Field("version").not_empty(VERSION_REQUIRED),
    ]


BODY: dict[str, Shape] = {
    "profileName": Text(max_length=256, pattern=PROFILE_NAME.replace("\\Z", "$")),
    "activation": Text(choices=(ActivationMode.ACM, ActivationMode.CCM)),
    "amtPassword": Text(),
    "generateRandomPassword": Boolean(),
    "mebxPassword": Text(),
    "generateRandomMEBxPassword": Boolean(),
    "tlsMode": Number(choices=(1, 2, 3, 4)),
    "tlsSigningAuthority": Text(choices=SIGNING_AUTHORITIES),
    "ciraConfigName": Text(),
    "tags": ArrayOf(Text()),
    **{flag: Boolean() for flag in BOOLEAN_FIELDS},
    "wifiConfigs": ArrayOf(Record({"profileName": Text(), "priority": Number()})),
    "proxyConfigs": ArrayOf(Record({"name": Text(), "priority": Number()})),
    "ieee8021xProfileName": Text(),
    "userConsent": Text(choices=USER_CONSENTS),
    "version": Number(INT64),
}
