"""Writes of AMT profiles: the row, its wifi/proxy links and its secrets, all or nothing.

Secrets (rest-api.md §3.2, DESIGN.md "Nothing half-written"):
- `profiles/<name>` holds `AMT_PASSWORD` and `MEBX_PASSWORD` only while a static password is in
  use: a static AMT password, or a static MEBx password of an ACM profile. A CCM profile keeps
  no MEBx password anywhere (upstream Q7 stored it in clear in the database).
- `TLS/<name>` holds the self-signed root and issued certificate while TLS is on with the
  `SelfSigned` authority; it is created once and kept when TLS is turned off, as upstream does.
- Both are written inside the database transaction (create-only on create, check-and-set on
  update) and undone if it fails; a delete destroys them once the commit is known.
`data` is the validated input from `profiles.api.profile_input.normalise` (or the admin
form): snake_case keys, present only where the client sent them, passwords as `Secret`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.db.models.functions import Lower

from audit.services import audited_record_write
from profiles.models import (
    ActivationMode,
    CiraConfig,
    Ieee8021xConfig,
    NamedTenantRecord,
    Profile,
    ProfileProxyConfig,
    ProfileWirelessConfig,
    ProxyConfig,
    WirelessConfig,
)
from profiles.services.named_records import locked_by_name
from profiles.tls_certificates import generate_profile_certificates
from rps_site.api.versions import next_version
from rps_site.errors import Duplicate, MissingReference, NotFound, OperationFailed, VersionConflict
from rps_site.sensitive import Secret
from rps_site.vault import SecretChanges, atomic_with_secrets, secret_store

SELF_SIGNED = "SelfSigned"
AMT_PASSWORD = "AMT_PASSWORD"
MEBX_PASSWORD = "MEBX_PASSWORD"
CIRA_FK_ERROR = (
    'Foreign key constraint violation: insert or update on table "profiles" violates foreign key constraint '
    '"profiles_cira_config_name_tenant_id_fkey"'
)


@dataclass(frozen=True)
class LinkInput:
    """A wifi or proxy config named in a profile, at a priority."""

    name: str
    priority: int


def profile_not_found(name: str) -> NotFound:
    return NotFound(f"AMT profile {name} Not Found")


def _operation_failed(name: str) -> OperationFailed:
    return OperationFailed(f"Operation failed: {name}")


def _missing_reference(name: str) -> MissingReference:
    return MissingReference(f"Referenced constraint {name} doesn't exist", detail=CIRA_FK_ERROR)


def _tls_authority(tls_mode: int | None, authority: str | None) -> str | None:
    if not tls_mode:
        return None
    return authority or SELF_SIGNED


def _password_values(*, activation: str, amt: Secret | None, mebx: Secret | None) -> dict[str, Secret]:
    return {
        AMT_PASSWORD: amt or Secret(""),
        MEBX_PASSWORD: (mebx or Secret("")) if activation == ActivationMode.ACM else Secret(""),
    }


def _needs_password_secret(*, activation: str, random_amt: bool, random_mebx: bool) -> bool:
    return not random_amt or (activation == ActivationMode.ACM and not random_mebx)


def _cira_for_create(tenant_id: str, name: str | None) -> CiraConfig | None:
    if name is None:
        return None
    cira = CiraConfig.objects.for_tenant(tenant_id).named(name).first()
    if cira is None:
        raise _missing_reference(name)
    return cira


def _ieee8021x(tenant_id: str, name: str | None, *, on_missing: Exception) -> Ieee8021xConfig | None:
    if name is None:
        return None
    config = Ieee8021xConfig.objects.for_tenant(tenant_id).named(name).first()
    if config is None:
        raise on_missing
    return config


def _replace_links(
    profile: Profile,
    *,
    wifi: Sequence[LinkInput] | None,
    proxy: Sequence[LinkInput] | None,
    new_profile: bool = False,
) -> None:
    """Set the given link lists (None leaves that kind alone; [] removes them all). A profile
    just inserted has no links to remove, and one without links needs no statement at all."""
    if new_profile and not wifi and not proxy:
        return
    tenant_id = profile.tenant_id
    try:
        with transaction.atomic():
            if wifi is not None:
                if not new_profile:
                    ProfileWirelessConfig.objects.filter(profile=profile).delete()
                configs = _by_lower_name(WirelessConfig, tenant_id, [link.name for link in wifi])
                ProfileWirelessConfig.objects.bulk_create(
                    ProfileWirelessConfig(
                        profile=profile, wireless_config=configs[link.name.lower()], priority=link.priority
                    )
                    for link in wifi
                )
            if proxy is not None:
                if not new_profile:
                    ProfileProxyConfig.objects.filter(profile=profile).delete()
                proxies = _by_lower_name(ProxyConfig, tenant_id, [link.name for link in proxy])
                ProfileProxyConfig.objects.bulk_create(
                    ProfileProxyConfig(profile=profile, proxy_config=proxies[link.name.lower()], priority=link.priority)
                    for link in proxy
                )
    except (IntegrityError, KeyError):
        # A duplicate (name, priority) pair, or a config deleted since validation.
        raise _operation_failed(profile.name) from None


def _by_lower_name(model: type[NamedTenantRecord], tenant_id: str, names: list[str]) -> dict[str, Any]:
    wanted = {name.lower() for name in names}
    found = model.objects.for_tenant(tenant_id).annotate(lower_name=Lower("name")).filter(lower_name__in=wanted)
    return {obj.lower_name: obj for obj in found}


def _uses_self_signed_tls(profile: Profile) -> bool:
    return bool(profile.tls_mode) and profile.tls_signing_authority == SELF_SIGNED


def profile_required_secret_paths(profile: Profile) -> list[str]:
    """The Vault paths a stored profile cannot work without (for rps_vault_audit)."""
    required = []
    if _needs_password_secret(
        activation=profile.activation,
        random_amt=profile.generate_random_password,
        random_mebx=profile.generate_random_mebx_password,
    ):
        required.append(profile.secret_path)
    if _uses_self_signed_tls(profile):
        required.append(profile.tls_secret_path)
    return required


def _write_tls_if_missing(changes: SecretChanges, profile: Profile) -> None:
    if not _uses_self_signed_tls(profile):
        return
    if changes.store.read(profile.tls_secret_path) is None:
        changes.create(profile.tls_secret_path, generate_profile_certificates(profile.name).secret_values())


@audited_record_write("profiles", "create", Profile)
def profile_create(*, tenant_id: str, data: Mapping[str, Any]) -> Profile:
    """Insert a profile with its links, then its secrets; nothing stays if any step fails."""
    name: str = data["name"]
    activation: str = data["activation"]
    random_amt = bool(data.get("generate_random_password"))
    random_mebx = bool(data.get("generate_random_mebx_password"))
    tls_mode = data.get("tls_mode")
    user_consent = data.get("user_consent")
    if user_consent is None:
        user_consent = "All" if activation == ActivationMode.CCM else "KVM"
    with atomic_with_secrets() as changes:
        cira_name = data.get("cira_config_name")
        profile = Profile(
            tenant_id=tenant_id,
            version=next_version(),
            name=name,
            activation=activation,
            generate_random_password=random_amt,
            generate_random_mebx_password=random_mebx,
            cira_config=_cira_for_create(tenant_id, cira_name),
            ieee8021x_config=_ieee8021x(
                tenant_id,
                data.get("ieee8021x_profile_name"),
                on_missing=_missing_reference(cira_name or ""),
            ),
            tags=data.get("tags"),
            dhcp_enabled=data.get("dhcp_enabled"),
            ip_sync_enabled=data.get("ip_sync_enabled"),
            local_wifi_sync_enabled=data.get("local_wifi_sync_enabled"),
            uefi_wifi_sync_enabled=data.get("uefi_wifi_sync_enabled"),
            tls_mode=tls_mode,
            tls_signing_authority=_tls_authority(tls_mode, data.get("tls_signing_authority")),
            user_consent=user_consent,
            ider_enabled=_or(data.get("ider_enabled"), False),
            kvm_enabled=_or(data.get("kvm_enabled"), True),
            sol_enabled=_or(data.get("sol_enabled"), False),
        )
        try:
            profile.save(force_insert=True)
        except IntegrityError:
            # The per-tenant case-insensitive name constraint (no look-up first: one round trip
            # less on every create); the whole transaction is rolled back.
            raise Duplicate(f"AMT profile {name} already exists") from None
        _replace_links(
            profile, wifi=data.get("wifi_configs") or [], proxy=data.get("proxy_configs") or [], new_profile=True
        )
        passwords = PasswordModes(
            activation, random_amt, random_mebx, data.get("amt_password"), data.get("mebx_password")
        )
        if passwords.needs_secret:
            changes.create(profile.secret_path, passwords.secret_values())
        _write_tls_if_missing(changes, profile)
    return profile


def _or(value: Any, fallback: Any) -> Any:
    """JavaScript `value ?? fallback`."""
    return fallback if value is None else value


def _stored_passwords(profile: Profile) -> Mapping[str, Secret]:
    stored = secret_store().read(profile.secret_path)
    if stored is None:
        raise OperationFailed(
            f"Operation failed: reading stored credentials for profile {profile.name}; "
            "refusing to overwrite secret with placeholder"
        )
    return stored.values


def _kept(stored: Mapping[str, Secret], key: str, profile_name: str) -> Secret:
    value = stored.get(key)
    if not value:
        raise OperationFailed(
            f"Operation failed: stored credentials for profile {profile_name} are missing {key}; "
            "refusing to overwrite secret with placeholder"
        )
    return value


@dataclass(frozen=True)
class PasswordModes:
    """How a profile's AMT and MEBx passwords are kept after a write, and the static ones."""

    activation: str
    random_amt: bool
    random_mebx: bool
    amt: Secret | None
    mebx: Secret | None

    @property
    def needs_secret(self) -> bool:
        return _needs_password_secret(
            activation=self.activation, random_amt=self.random_amt, random_mebx=self.random_mebx
        )

    def secret_values(self) -> dict[str, Secret]:
        amt, mebx = None if self.random_amt else self.amt, None if self.random_mebx else self.mebx
        return _password_values(activation=self.activation, amt=amt, mebx=mebx)


def _password_modes_after_update(profile: Profile, data: Mapping[str, Any]) -> PasswordModes:
    """A flag sent true wins; a password sent means static; otherwise the stored mode stays, and a
    static password not sent again is the one Vault holds."""
    activation: str = _or(data.get("activation"), profile.activation)
    amt: Secret | None = data.get("amt_password") or None
    mebx: Secret | None = data.get("mebx_password") or None
    random_amt = _random_mode(data.get("generate_random_password"), amt, profile.generate_random_password)
    random_mebx = _random_mode(data.get("generate_random_mebx_password"), mebx, profile.generate_random_mebx_password)
    random_mebx = random_mebx and activation != ActivationMode.CCM

    has_stored_mebx = profile.generate_random_mebx_password is False and profile.activation == ActivationMode.ACM
    if activation == ActivationMode.ACM and not random_mebx and mebx is None and not has_stored_mebx:
        raise OperationFailed("MEBx password is required for acmactivate")
    keep_amt = not random_amt and amt is None
    keep_mebx = activation == ActivationMode.ACM and not random_mebx and mebx is None
    if keep_amt or keep_mebx:
        stored = _stored_passwords(profile)
        if keep_amt:
            amt = _kept(stored, AMT_PASSWORD, profile.name)
        if keep_mebx:
            mebx = _kept(stored, MEBX_PASSWORD, profile.name)
    return PasswordModes(activation, random_amt, random_mebx, amt, mebx)


KEPT_UNLESS_SENT = (
    "tags",
    "dhcp_enabled",
    "ip_sync_enabled",
    "local_wifi_sync_enabled",
    "uefi_wifi_sync_enabled",
    "user_consent",
    "ider_enabled",
    "kvm_enabled",
    "sol_enabled",
)


def _apply_update(profile: Profile, data: Mapping[str, Any], passwords: PasswordModes) -> None:
    """Set and save the row's fields (upstream's merge rules); a reference that does not resolve
    is upstream's "Operation failed" (Q19)."""
    failed = _operation_failed(data["name"])
    profile.activation = passwords.activation
    profile.generate_random_password = passwords.random_amt
    profile.generate_random_mebx_password = passwords.random_mebx
    profile.cira_config = _cira_for_update(profile.tenant_id, data.get("cira_config_name"), failed)
    profile.ieee8021x_config = _ieee8021x(profile.tenant_id, data.get("ieee8021x_profile_name"), on_missing=failed)
    profile.tls_mode = data.get("tls_mode")
    profile.tls_signing_authority = _tls_authority(
        profile.tls_mode, _or(data.get("tls_signing_authority"), profile.tls_signing_authority)
    )
    for field in KEPT_UNLESS_SENT:
        setattr(profile, field, _or(data.get(field), getattr(profile, field)))
    profile.version = next_version()
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError:
        raise failed from None


def _wifi_after_update(data: Mapping[str, Any], old_dhcp: bool | None) -> list[LinkInput] | None:
    """The Wi-Fi links a PATCH leaves: those sent with DHCP on, none once DHCP is turned off,
    else unchanged (None)."""
    if data.get("dhcp_enabled"):
        return list(data.get("wifi_configs") or [])
    return [] if old_dhcp else None


@audited_record_write("profiles", "update", Profile)
def profile_update(*, tenant_id: str, data: Mapping[str, Any], expected_version: int | None) -> Profile:
    """Apply a PATCH with upstream's merge rules (rest-api.md §2.3) if the stored version is
    `expected_version` (None never is).

    Absent `ciraConfigName`, `tlsMode` and `ieee8021xProfileName` clear them, absent
    `proxyConfigs` removes the proxy links; most other fields keep their stored value.
    """
    name: str = data["name"]
    with atomic_with_secrets() as changes:
        profile = locked_by_name(Profile, tenant_id=tenant_id, name=name, not_found=profile_not_found)
        old_dhcp = profile.dhcp_enabled
        passwords = _password_modes_after_update(profile, data)
        if expected_version is None or expected_version != profile.version:
            raise VersionConflict(profile, profile.version)
        _apply_update(profile, data, passwords)
        _replace_links(profile, wifi=_wifi_after_update(data, old_dhcp), proxy=list(data.get("proxy_configs") or []))
        _write_tls_if_missing(changes, profile)
        if passwords.needs_secret:
            changes.replace(profile.secret_path, passwords.secret_values())
        elif changes.store.read(profile.secret_path) is not None:
            # Reading first also means a Vault outage fails the request instead of orphaning the secret.
            changes.destroy(profile.secret_path)
    return profile


def _random_mode(flag: Any, password: Secret | None, stored: bool) -> bool:
    if flag:
        return True
    return False if password else stored


def _cira_for_update(tenant_id: str, name: str | None, failed: OperationFailed) -> CiraConfig | None:
    if name is None:
        return None
    cira = CiraConfig.objects.for_tenant(tenant_id).named(name).first()
    if cira is None:
        raise failed  # Q19: upstream answers any database error of a PATCH this way
    return cira


@audited_record_write("profiles", "delete", Profile)
def profile_delete(*, tenant_id: str, name: str) -> None:
    """Delete a profile and its links; its secrets are destroyed once the commit is known (with
    Vault unreachable, or a token that may not destroy, the row stays: 503)."""
    with atomic_with_secrets() as changes:
        profile = locked_by_name(Profile, tenant_id=tenant_id, name=name, not_found=profile_not_found)
        try:
            with transaction.atomic():
                profile.delete()
        except (ProtectedError, IntegrityError):
            raise OperationFailed("Operation failed: Error deleting profile") from None
        changes.destroy(profile.secret_path)
        changes.destroy(profile.tls_secret_path)
