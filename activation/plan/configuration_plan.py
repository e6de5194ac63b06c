"""What the post-activation configuration will do (protocol.md §4.6-4.10), resolved once.

`resolve_configuration_plan` reads the profile, its linked configs and their Vault secrets (Wi-Fi
PSKs, 802.1X passwords, the CIRA config's MPS password, the profile's TLS root, the MPS CA in
`MPSCerts`) into a frozen `ConfigurationPlan`. Every secret is a `Secret`. A config that cannot be
used (a PSK missing from Vault, an 802.1X protocol the Enterprise Assistant does not serve, no
MPS CA for TLS) does not stop the others: its entry carries `problem`, the text its component
reports.

What the Enterprise Assistant provides (§3 of spec/enterprise-assistant.md): EAP-TLS (0) always
comes from it, PEAPv0/EAP-MSCHAPv2 (2) when the 802.1X config has no password of its own in Vault
(upstream asks the EA for every config; a stored password is this server's addition), and TLS
when the profile's `tlsSigningAuthority` is `MicrosoftCA`.

Synchronous (ORM and hvac); callers run it in a worker thread. Vault being unreachable raises
`VaultUnavailable`: nothing is guessed.
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from activation.enterprise_assistant.messages import SERVED_PROTOCOLS
from activation.plan.passwords import generate_amt_password
from activation.protocol.messages import DeviceRequest
from profiles.tls_certificates import ProfileTlsCertificates
from rps_site.sensitive import Secret
from rps_site.vault import (
    MPS_CERTIFICATES_PATH,
    cira_config_path,
    ieee8021x_config_path,
    profile_tls_path,
    secret_store,
    wireless_config_path,
)

if TYPE_CHECKING:  # the ORM is imported where it is used, so the plan types load without Django
    from profiles.models import CiraConfig, Ieee8021xConfig, Profile

EAP_TLS = 0  # the 802.1X protocol numbers the Enterprise Assistant serves (SERVED_PROTOCOLS)
PEAP_MSCHAPV2 = 2
PSK_METHODS = (4, 6)
IEEE8021X_METHODS = (5, 7)
USER_CONSENT_CODES = {"None": 0, "KVM": 1, "All": 4294967295}
MPS_ROOT_KEY_MISSING = "Failed to fetch MPS root key for post-provisioning TLS"
TLS_TUNNEL_DEFAULT_MODE = 2  # server authentication, non-TLS connections still accepted


@dataclass(frozen=True)
class Ieee8021xPlan:
    name: str
    authentication_protocol: int
    username: str
    password: Secret | None
    pxe_timeout: int
    roaming_identity: str = ""
    problem: str = ""
    # The account or certificate comes from the Enterprise Assistant at activation (then
    # `username`/`password` are unused): EAP-TLS, and PEAP without a stored password.
    enterprise_assistant: bool = False


@dataclass(frozen=True)
class WirelessPlan:
    name: str
    ssid: str
    priority: int
    authentication_method: int
    encryption_method: int
    psk_passphrase: Secret | None = None
    ieee8021x: Ieee8021xPlan | None = None
    problem: str = ""


@dataclass(frozen=True)
class ProxyPlan:
    name: str
    address: str
    info_format: int
    port: int
    network_dns_suffix: str


@dataclass(frozen=True)
class FeaturesPlan:
    kvm: bool
    sol: bool
    ider: bool
    user_consent: int


@dataclass(frozen=True)
class MpsCertificateAuthority:
    """The CA MPS keeps in `MPSCerts`: device TLS certificates are signed with it (§4.9 step 4)."""

    certificate_der: bytes = field(repr=False)
    private_key_pem: Secret


@dataclass(frozen=True)
class TlsPlan:
    mode: int  # 1 server, 2 server + non-TLS, 3 mutual, 4 mutual + non-TLS
    trusted_root_der: bytes | None = field(default=None, repr=False)
    authority: MpsCertificateAuthority | None = None
    problem: str = ""
    # `tlsSigningAuthority` MicrosoftCA: the certificate comes from the Enterprise Assistant of
    # this tenant (§6), and neither `authority` nor `trusted_root_der` is used.
    microsoft_ca_tenant: str | None = None


@dataclass(frozen=True)
class CiraPlan:
    config_name: str
    server_address: str
    address_format: int
    port: int
    username: str
    common_name: str
    root_certificate_der: bytes = field(repr=False)
    mps_password: Secret
    detection_domain: str  # an unresolvable domain: AMT always thinks it is outside (§4.10 step 11)


@dataclass(frozen=True)
class ConfigurationPlan:
    profile_name: str
    tenant_id: str
    device_guid: str
    hostname: str
    tags: tuple[str, ...]
    tls_enforced: bool  # AMT 19+: TLS clean-up and the wired Put are skipped (§4.6 step 7, §4.7.2)
    dhcp_enabled: bool
    ip_sync_enabled: bool
    wired_ieee8021x: Ieee8021xPlan | None
    wireless: tuple[WirelessPlan, ...]
    local_wifi_sync_enabled: bool
    uefi_wifi_sync_enabled: bool
    proxies: tuple[ProxyPlan, ...]
    features: FeaturesPlan
    tls: TlsPlan | None = None
    cira: CiraPlan | None = None
    # The session runs through TLS that RPS configured during the activation (`--tls-tunnel`):
    # the §4.6 TLS clean-up would cut the tunnel, and TLS is not configured a second time.
    keep_tls: bool = False

    @property
    def wants_wireless(self) -> bool:
        return bool(self.wireless) or self.local_wifi_sync_enabled or self.uefi_wifi_sync_enabled


@dataclass(frozen=True)
class ConfigurationUnavailable:
    """The configuration could not be read (Vault or the database unreachable): nothing is
    configured, and each component says why."""

    cause: str  # the exception's type name, e.g. VaultUnavailable


def resolve_configuration_plan(profile: Profile | str, request: DeviceRequest, tenant_id: str) -> ConfigurationPlan:
    """`profile` as `profiles.selectors.profiles.profile_for_activation` reads it (with whether it
    links Wi-Fi or proxy configs at all), or a profile name."""
    from profiles.models import Profile

    if isinstance(profile, str):
        profile = Profile.objects.get(tenant_id=tenant_id, name__iexact=profile)
    wired_ieee8021x = _ieee8021x_plan(profile.ieee8021x_config) if profile.ieee8021x_config is not None else None
    wireless = _wireless_plans(profile)
    proxies = _proxy_plans(profile)
    features = FeaturesPlan(
        kvm=bool(profile.kvm_enabled),
        sol=bool(profile.sol_enabled),
        ider=bool(profile.ider_enabled),
        user_consent=USER_CONSENT_CODES.get(profile.user_consent or "All", USER_CONSENT_CODES["All"]),
    )
    cira_config = profile.cira_config if profile.cira_config_id else None
    # `--tls-tunnel` needs TLS on the device even when the profile sets no mode: server
    # authentication, with non-TLS connections still accepted (§4.9 step 7 for an unset mode).
    tls_mode = int(profile.tls_mode or 0) or (TLS_TUNNEL_DEFAULT_MODE if request.switches_to_tls_tunnel else 0)
    return ConfigurationPlan(
        profile_name=profile.name,
        tenant_id=profile.tenant_id,
        device_guid=request.device_guid,
        hostname=request.payload.hostname,
        tags=tuple(str(tag) for tag in (profile.tags or [])),
        tls_enforced=request.payload.tls_enforced,
        dhcp_enabled=bool(profile.dhcp_enabled),
        ip_sync_enabled=profile.ip_sync_enabled is not False,  # default true (§4.7.2)
        wired_ieee8021x=wired_ieee8021x,
        wireless=wireless,
        local_wifi_sync_enabled=profile.local_wifi_sync_enabled is not False,  # true or unset (§4.7.4)
        uefi_wifi_sync_enabled=bool(profile.uefi_wifi_sync_enabled),
        proxies=proxies,
        features=features,
        tls=_tls_plan(profile, tls_mode) if tls_mode else None,
        cira=_cira_plan(cira_config) if cira_config is not None else None,
    )


def _wireless_plans(profile: Profile) -> tuple[WirelessPlan, ...]:
    """The profile's Wi-Fi configs by priority, each with its PSK or 802.1X config (§4.7.4)."""
    store = secret_store()
    wireless: list[WirelessPlan] = []
    links = (
        profile.wireless_links.select_related("wireless_config__ieee8021x_config").order_by("priority")
        if getattr(profile, "links_wireless", True)
        else []
    )
    for link in links:
        config = link.wireless_config
        psk: Secret | None = None
        problem = ""
        if config.authentication_method in PSK_METHODS:
            stored = store.read(wireless_config_path(config.tenant_id, config.name))
            psk = stored.get("PSK_PASSPHRASE") if stored is not None else None
            if not psk:
                psk, problem = None, f"PSK passphrase of {config.name} is missing from the secret store"
        ieee8021x = _ieee8021x_plan(config.ieee8021x_config) if config.ieee8021x_config is not None else None
        if config.authentication_method in IEEE8021X_METHODS and ieee8021x is None:
            problem = f"{config.name} has no 802.1X config"
        wireless.append(
            WirelessPlan(
                name=config.name,
                ssid=config.ssid,
                priority=link.priority,
                authentication_method=config.authentication_method,
                encryption_method=config.encryption_method,
                psk_passphrase=psk,
                ieee8021x=ieee8021x,
                problem=problem,
            )
        )
    return tuple(wireless)


def _proxy_plans(profile: Profile) -> tuple[ProxyPlan, ...]:
    """The profile's proxy configs in their order (§4.7.5)."""
    return tuple(
        ProxyPlan(
            name=link.proxy_config.name,
            address=link.proxy_config.address,
            info_format=link.proxy_config.info_format,
            port=link.proxy_config.port,
            network_dns_suffix=link.proxy_config.network_dns_suffix,
        )
        for link in (
            profile.proxy_links.select_related("proxy_config").order_by("priority", "id")
            if getattr(profile, "links_proxies", True)
            else []
        )
    )


def _ieee8021x_plan(config: Ieee8021xConfig) -> Ieee8021xPlan:
    problem = ""
    password: Secret | None = None
    protocol = config.authentication_protocol
    if protocol == PEAP_MSCHAPV2:
        stored = secret_store().read(ieee8021x_config_path(config.tenant_id, config.name))
        password = stored.get("PASSWORD") if stored is not None else None
    if protocol not in SERVED_PROTOCOLS:
        # B5: upstream sends 3/5/10 down the EAP-TLS path and waits out the timeout, as no EA
        # answers them; the API refuses them for profiles now, this covers rows from before.
        problem = f"802.1X protocol {protocol} of {config.name} is not one the Enterprise Assistant serves"
    return Ieee8021xPlan(
        name=config.name,
        authentication_protocol=config.authentication_protocol,
        username=config.username or "",
        password=password,
        pxe_timeout=config.pxe_timeout if config.pxe_timeout is not None else 120,
        roaming_identity=config.roaming_identity or "",
        problem=problem,
        enterprise_assistant=not problem and not password,
    )


def _tls_plan(profile: Profile, mode: int) -> TlsPlan:
    from profiles.models import Profile

    if profile.tls_signing_authority == Profile.TlsSigningAuthority.MICROSOFT_CA:
        # Upstream still requires `MPSCerts` here and fails without it (§6); nothing uses it.
        return TlsPlan(mode, microsoft_ca_tenant=profile.tenant_id)
    store = secret_store()
    authority = mps_certificate_authority(store.read(MPS_CERTIFICATES_PATH))
    if authority is None:
        return TlsPlan(mode, problem=MPS_ROOT_KEY_MISSING)
    # §4.9 step 2, in upstream's order of preference: the profile's root, else the MPS CA (the CIRA
    # root, upstream's last choice, never applies: a profile has TLS or CIRA, not both).
    trusted_root: bytes | None = None
    stored_tls = store.read(profile_tls_path(profile.tenant_id, profile.name))
    if stored_tls is not None:
        try:
            trusted_root = base64.b64decode(ProfileTlsCertificates.from_secret_values(stored_tls.values).root.certbin)
        except (KeyError, ValueError, binascii.Error):
            trusted_root = None
    return TlsPlan(mode, trusted_root_der=trusted_root or authority.certificate_der, authority=authority)


def _cira_plan(config: CiraConfig) -> CiraPlan:
    stored = secret_store().read(cira_config_path(config.tenant_id, config.name))
    password = stored.get("MPS_PASSWORD") if stored is not None else None
    return CiraPlan(
        config_name=config.name,
        server_address=config.mps_server_address,
        address_format=config.server_address_format,
        port=config.mps_port,
        username=config.username,
        common_name=config.common_name or "",
        root_certificate_der=certificate_der(config.mps_root_certificate) or b"",
        mps_password=password if password else generate_amt_password(),
        detection_domain=f"{uuid.uuid4()}.com",
    )


def certificate_der(text: str) -> bytes | None:
    """A certificate given as base64 DER (upstream's `mpsRootCertificate`) or as PEM."""
    body = text.strip()
    if "-----BEGIN" in body:
        try:
            return x509.load_pem_x509_certificate(body.encode("ascii")).public_bytes(serialization.Encoding.DER)
        except ValueError:
            return None
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (ValueError, binascii.Error):
        return None


def mps_certificate_authority(stored: Any) -> MpsCertificateAuthority | None:
    """`MPSCerts` as MPS writes it: `root_key` (PEM) and the CA certificate under
    `web_tls_config.ca`, `mps_tls_config.ca`, `root_ca` or `ca`; the one whose public key matches
    `root_key` wins (protocol.md §4.0)."""
    if stored is None:
        return None
    values: Mapping[str, Secret] = stored.values
    root_key_secret = values.get("root_key")
    if not root_key_secret:
        return None
    try:
        key = serialization.load_pem_private_key(root_key_secret.reveal().encode("ascii"), password=None)
    except (ValueError, TypeError):
        return None
    if not isinstance(key, rsa.RSAPrivateKey):
        return None
    candidates: list[str] = []
    for name in ("web_tls_config", "mps_tls_config"):
        nested = _structured(values.get(name))
        if isinstance(nested, dict):
            candidates += _pem_texts(nested.get("ca"))
    for name in ("root_ca", "ca"):
        secret = values.get(name)
        if secret:
            structured = _structured(secret)
            candidates += _pem_texts(structured if structured is not None else secret.reveal())
    public_numbers = key.public_key().public_numbers()
    for pem in candidates:
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except ValueError:
            continue
        certificate_key = certificate.public_key()
        if isinstance(certificate_key, rsa.RSAPublicKey) and certificate_key.public_numbers() == public_numbers:
            return MpsCertificateAuthority(
                certificate_der=certificate.public_bytes(serialization.Encoding.DER),
                private_key_pem=root_key_secret,
            )
    return None


def _structured(secret: Secret | None) -> Any:
    """A nested value as the secret store hands it back (JSON text or a Python literal)."""
    if not secret:
        return None
    text = secret.reveal()
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def _pem_texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if "-----BEGIN CERTIFICATE-----" in value else []
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str) and "-----BEGIN CERTIFICATE-----" in item]
    return []
