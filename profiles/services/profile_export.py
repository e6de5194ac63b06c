"""Profile export: the profile as an rpc-go configuration YAML, encrypted with a one-time key.

The document and its encryption follow upstream's export.ts (rest-api.md §2.3 export): a
32-character base64 string is drawn, its 32 ASCII bytes are the AES-256-GCM key, and the
content is base64(nonce ‖ ciphertext ‖ tag). Every export is recorded (who, tenant, profile,
when), never its content. One deliberate difference: wireless entries carry the passphrase from
Vault (`Wireless/<name>`) instead of upstream's database placeholder `PSK_PASSPHRASE`.
"""

from __future__ import annotations

import base64
import secrets as random_source
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from audit.services import audited_action
from profiles.models import ActivationMode, Domain, Profile, ProfileExportRecord, ProfileWirelessConfig
from profiles.services.profiles import profile_not_found
from rps_site import vault


@dataclass(frozen=True)
class EncryptedExport:
    filename: str
    content: str
    key: str

    def as_dict(self) -> dict[str, str]:
        return {"filename": self.filename, "content": self.content, "key": self.key}


class _IndentedListDumper(yaml.SafeDumper):
    """js-yaml's layout: list items indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _secret_text(values: Any, key: str) -> str:
    if values is None:
        return ""
    secret = values.get(key)
    return secret.reveal() if secret else ""


def _ieee8021x(profile: Profile) -> dict[str, Any] | None:
    config = profile.ieee8021x_config
    if config is None:
        return None
    return {
        "profileName": config.name,
        "authenticationProtocol": config.authentication_protocol,
        "pxeTimeout": config.pxe_timeout,
        "wiredInterface": config.wired_interface,
        "tenantId": config.tenant_id,
    }


def _wireless_profiles(profile: Profile) -> list[dict[str, Any]]:
    store = vault.secret_store()
    entries = []
    links = (
        ProfileWirelessConfig.objects.filter(profile=profile)
        .select_related("wireless_config__ieee8021x_config")
        .order_by("priority", "wireless_config__name")
    )
    for link in links:
        config = link.wireless_config
        stored = store.read(config.secret_path)
        entries.append(
            {
                "profileName": config.name,
                "ssid": config.ssid,
                "priority": link.priority,
                "authenticationMethod": config.authentication_method,
                "encryptionMethod": config.encryption_method,
                "pskPassphrase": _secret_text(stored.values if stored else None, "PSK_PASSPHRASE"),
                "ieee8021xProfileName": config.ieee8021x_config.name if config.ieee8021x_config else None,
            }
        )
    return entries


def _provisioning_certificate(profile: Profile, domain_name: str | None) -> tuple[str, str]:
    if profile.activation != ActivationMode.ACM or not domain_name:
        return "", ""
    domain = Domain.objects.for_tenant(profile.tenant_id).named(domain_name).first()
    if domain is None:
        return "", ""  # upstream ignores an unknown domain
    stored = vault.secret_store().read(domain.secret_path)
    values = stored.values if stored else None
    return _secret_text(values, "CERT"), _secret_text(values, "CERT_PASSWORD")


def export_document(profile: Profile, *, domain_name: str | None) -> dict[str, Any]:
    """The configuration object upstream serialises (with the secrets, in clear)."""
    stored = vault.secret_store().read(profile.secret_path)
    passwords = stored.values if stored else None
    certificate, certificate_password = _provisioning_certificate(profile, domain_name)
    dhcp = profile.dhcp_enabled
    return {
        "id": 0,
        "name": profile.name,
        "configuration": {
            "generalSettings": {"sharedFQDN": False, "networkInterfaceEnabled": 0, "pingResponseEnabled": False},
            "network": {
                "wired": {
                    "dhcpEnabled": True if dhcp is None else dhcp,
                    "ipSyncEnabled": bool(profile.ip_sync_enabled),
                    "sharedStaticIP": not dhcp,
                    "ipAddress": "",
                    "subnetMask": "",
                    "defaultGateway": "",
                    "primaryDNS": "",
                    "secondaryDNS": "",
                    "authentication": "",
                    "ieee8021x": _ieee8021x(profile),
                },
                "wireless": {
                    "wifiSyncEnabled": bool(profile.local_wifi_sync_enabled),
                    "uefiWifiSyncEnabled": bool(profile.uefi_wifi_sync_enabled),
                    "profiles": _wireless_profiles(profile),
                },
            },
            "tls": {
                "mutualAuthentication": False,
                "enabled": bool(profile.tls_mode),
                "trustedCN": [],
                "allowNonTLS": False,
            },
            "redirection": {
                "enabled": False,
                "services": {"kvm": True, "sol": True, "ider": True},
                "userConsent": "None",
            },
            "userAccounts": {"userAccounts": []},
            "enterpriseAssistant": {
                "url": settings.ENTERPRISE_ASSISTANT_URL,
                "username": "",
                "password": "",
            },
            "amtSpecific": {
                "controlMode": profile.activation,
                "adminPassword": _secret_text(passwords, "AMT_PASSWORD"),
                "provisioningCert": certificate,
                "provisioningCertPwd": certificate_password,
                "mebxPassword": _secret_text(passwords, "MEBX_PASSWORD"),
            },
            "bmcSpecific": {"adminPassword": ""},
            "dashSpecific": {"adminPassword": ""},
            "redfishSpecific": {"adminPassword": ""},
        },
    }


def encrypt_with_random_key(plaintext: bytes) -> tuple[str, str]:
    """(base64 content, key): the key's 32 ASCII characters are the AES-256-GCM key."""
    key = base64.b64encode(random_source.token_bytes(24)).decode("ascii")
    nonce = random_source.token_bytes(12)
    sealed = AESGCM(key.encode("ascii")).encrypt(nonce, plaintext, None)
    return base64.b64encode(nonce + sealed).decode("ascii"), key


@audited_action(
    "profiles",
    "export",
    detail=lambda arguments: f"domain {arguments['domain_name']}" if arguments.get("domain_name") else "",
)
def profile_export(*, tenant_id: str, name: str, domain_name: str | None, actor: str) -> EncryptedExport:
    """Export one profile of the tenant, encrypted, and record who exported it."""
    profile = (
        Profile.objects.for_tenant(tenant_id).named(name).select_related("cira_config", "ieee8021x_config").first()
    )
    if profile is None:
        raise profile_not_found(name)
    document = export_document(profile, domain_name=domain_name)
    text = yaml.dump(
        document, Dumper=_IndentedListDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, indent=2
    )
    content, key = encrypt_with_random_key(text.encode("utf-8"))
    ProfileExportRecord.objects.create(tenant_id=tenant_id, profile_name=profile.name, exported_by=actor[:150])
    return EncryptedExport(filename=f"{profile.name}.yaml", content=content, key=key)
