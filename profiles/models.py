"""What admins define: domains, AMT profiles and the configs profiles link to.

Secrets are not columns: each model knows its Vault path and only services write there
(rps_site.vault). Names are unique per tenant without regard to case and kept as typed;
look-ups and sorting go through `Lower`. `version` is drawn from rps_site.api.versions on
every write and answers the API's optimistic-concurrency checks.
"""

from __future__ import annotations

from typing import ClassVar, Self

from django.db import models
from django.db.models.functions import Lower

from rps_site import vault

TENANT_LENGTH = 36


class AddressFormat(models.IntegerChoices):
    """How an address is written, in AMT's numbering (CIRA's MPS address, a proxy's address)."""

    IPV4 = 3, "IPv4 address"
    IPV6 = 4, "IPv6 address"
    FQDN = 201, "Host name (FQDN)"


class TenantQuerySet(models.QuerySet):
    """Every read of a tenant's records starts from `for_tenant` (STYLE.md rule 3)."""

    def for_tenant(self, tenant_id: str) -> Self:
        return self.filter(tenant_id=tenant_id)

    def named(self, name: str) -> Self:
        """The record of that name, whatever its case (rest-api.md §1.5)."""
        return self.filter(name__iexact=name)


class TenantOwned(models.Model):
    tenant_id = models.CharField("tenant", max_length=TENANT_LENGTH, blank=True, default="", db_index=True)
    version = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class NamedTenantRecord(TenantOwned):
    """A record admins name: unique per tenant without regard to case, listed by name."""

    name = models.CharField(max_length=256)

    class Meta:
        abstract = True
        constraints = [models.UniqueConstraint(Lower("name"), "tenant_id", name="%(class)s_name_per_tenant")]
        ordering = [Lower("name"), "id"]

    def __str__(self) -> str:
        return self.name


class VaultBackedRecord(NamedTenantRecord):
    """A named record whose secret lives in Vault at `secret_path`, written only by its service."""

    vault_path: ClassVar[staticmethod[[str, str], str]]  # (tenant, name) -> path, from rps_site.vault

    class Meta(NamedTenantRecord.Meta):
        abstract = True

    @property
    def secret_path(self) -> str:
        return self.vault_path(self.tenant_id, self.name)


class Domain(VaultBackedRecord):
    """An ACM provisioning certificate (PFX) for a DNS suffix; PFX and password live in Vault."""

    vault_path = staticmethod(vault.domain_certificate_path)

    class StorageFormat(models.TextChoices):
        RAW = "raw", "raw"
        STRING = "string", "string"

    domain_suffix = models.CharField("DNS suffix", max_length=256)
    provisioning_cert_storage_format = models.CharField("storage format", max_length=40, choices=StorageFormat.choices)
    expiration_date = models.DateTimeField("certificate expires", null=True)

    class Meta(NamedTenantRecord.Meta):
        constraints = [
            *NamedTenantRecord.Meta.constraints,
            models.UniqueConstraint(Lower("domain_suffix"), "tenant_id", name="domain_suffix_per_tenant"),
        ]


class CiraConfig(VaultBackedRecord):
    """How AMT dials back to MPS; the MPS password lives in Vault."""

    vault_path = staticmethod(vault.cira_config_path)

    class AuthMethod(models.IntegerChoices):
        MUTUAL_TLS = 1, "Mutual TLS"
        USERNAME_PASSWORD = 2, "Username and password"

    mps_server_address = models.CharField("MPS address", max_length=256)
    mps_port = models.IntegerField("MPS port")
    username = models.CharField("MPS username", max_length=40)
    common_name = models.CharField(max_length=256, null=True, blank=True)
    server_address_format = models.IntegerField("address format", choices=AddressFormat.choices)
    auth_method = models.IntegerField("authentication", choices=AuthMethod.choices)
    mps_root_certificate = models.TextField()
    proxy_details = models.TextField(null=True, blank=True)

    class Meta(NamedTenantRecord.Meta):
        verbose_name = "CIRA config"


class Ieee8021xConfig(VaultBackedRecord):
    """802.1X settings for wired or wireless links; the password lives in Vault."""

    vault_path = staticmethod(vault.ieee8021x_config_path)

    class AuthenticationProtocol(models.IntegerChoices):
        EAP_TLS = 0, "EAP-TLS"
        PEAP_MSCHAPV2 = 2, "PEAPv0/EAP-MSCHAPv2"
        PEAP_GTC = 3, "PEAPv1/EAP-GTC (wired only)"
        EAP_FAST_GTC = 5, "EAP-FAST/GTC (wired only)"
        EAP_FAST_TLS = 10, "EAP-FAST/TLS (wired only)"

    authentication_protocol = models.IntegerField(choices=AuthenticationProtocol.choices)
    server_name = models.CharField(max_length=255, null=True, blank=True)
    domain = models.CharField(max_length=255, null=True, blank=True)
    username = models.CharField(max_length=255, null=True, blank=True)
    roaming_identity = models.CharField(max_length=255, null=True, blank=True)
    active_in_s0 = models.BooleanField(null=True)
    pxe_timeout = models.IntegerField("PXE timeout", null=True)
    wired_interface = models.BooleanField("wired")

    class Meta(NamedTenantRecord.Meta):
        ordering = ["created_at", "id"]  # upstream lists them unordered, in practice as inserted
        verbose_name = "IEEE 802.1X config"


class WirelessConfig(VaultBackedRecord):
    """A Wi-Fi profile; a PSK passphrase lives in Vault."""

    vault_path = staticmethod(vault.wireless_config_path)

    class AuthenticationMethod(models.IntegerChoices):
        WPA_PSK = 4, "WPA PSK"
        WPA_IEEE8021X = 5, "WPA with 802.1X"
        WPA2_PSK = 6, "WPA2 PSK"
        WPA2_IEEE8021X = 7, "WPA2 with 802.1X"

    class EncryptionMethod(models.IntegerChoices):
        TKIP = 3, "TKIP"
        CCMP = 4, "CCMP (AES)"

    class LinkPolicy(models.IntegerChoices):
        """When AMT may use the link (a list of these; the API's `linkPolicy`)."""

        S0_AC = 1, "Running, on AC power (S0 AC)"
        SX_AC = 14, "Asleep or off, on AC power (Sx AC)"
        S0_DC = 16, "Running, on battery (S0 DC)"
        SX_DC = 224, "Asleep or off, on battery (Sx DC)"

    name = models.CharField(max_length=32)
    authentication_method = models.IntegerField("security", choices=AuthenticationMethod.choices)
    encryption_method = models.IntegerField("encryption", choices=EncryptionMethod.choices)
    ssid = models.CharField("SSID", max_length=32)
    psk_value = models.IntegerField(null=True, blank=True)
    link_policy = models.JSONField(null=True, blank=True)
    ieee8021x_config = models.ForeignKey(
        Ieee8021xConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="wireless_configs"
    )

    class Meta(NamedTenantRecord.Meta):
        verbose_name = "wireless config"


class ProxyConfig(NamedTenantRecord):
    """An HTTP proxy access point AMT uses to reach MPS."""

    address = models.CharField(max_length=256)
    info_format = models.IntegerField("address format", choices=AddressFormat.choices)
    port = models.IntegerField()
    network_dns_suffix = models.CharField(max_length=192)

    class Meta(NamedTenantRecord.Meta):
        constraints = [
            *NamedTenantRecord.Meta.constraints,
            models.UniqueConstraint(Lower("address"), "port", "tenant_id", name="proxy_address_port_per_tenant"),
        ]
        verbose_name = "proxy config"


class ActivationMode(models.TextChoices):
    """How a profile activates a device (upstream's `activation`); declared once, the device side
    reads it too."""

    ACM = "acmactivate", "Admin control mode"
    CCM = "ccmactivate", "Client control mode"


class Profile(VaultBackedRecord):
    """An AMT profile: how to activate a device and what to configure on it."""

    vault_path = staticmethod(vault.profile_passwords_path)

    class UserConsent(models.TextChoices):
        NONE = "None", "Not required"
        ALL = "All", "Required for KVM, SOL and IDE-R"
        KVM = "KVM", "Required for KVM only"

    class TlsMode(models.IntegerChoices):
        SERVER = 1, "Server authentication only"
        SERVER_AND_NON_TLS = 2, "Server authentication, non-TLS also allowed"
        MUTUAL = 3, "Mutual TLS only"
        MUTUAL_AND_NON_TLS = 4, "Mutual TLS, non-TLS also allowed"

    class TlsSigningAuthority(models.TextChoices):
        SELF_SIGNED = "SelfSigned", "Self-signed (RPS issues the certificate)"
        MICROSOFT_CA = "MicrosoftCA", "Microsoft CA (through the Enterprise Assistant)"

    # Upstream validation accepts any ClientAction value here; only acm/ccm mean anything.
    activation = models.CharField(max_length=20)
    generate_random_password = models.BooleanField("random AMT password", default=False)
    generate_random_mebx_password = models.BooleanField(default=False)
    cira_config = models.ForeignKey(
        CiraConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="profiles"
    )
    ieee8021x_config = models.ForeignKey(
        Ieee8021xConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="profiles"
    )
    tags = models.JSONField(null=True, blank=True)
    dhcp_enabled = models.BooleanField("DHCP", null=True)
    ip_sync_enabled = models.BooleanField(null=True)
    local_wifi_sync_enabled = models.BooleanField(null=True)
    uefi_wifi_sync_enabled = models.BooleanField(null=True)
    tls_mode = models.IntegerField("TLS mode", choices=TlsMode.choices, null=True, blank=True)
    tls_signing_authority = models.CharField(
        "TLS certificate issuer", max_length=40, choices=TlsSigningAuthority.choices, null=True, blank=True
    )
    user_consent = models.CharField(max_length=7, choices=UserConsent.choices, null=True, blank=True)
    ider_enabled = models.BooleanField(null=True)
    kvm_enabled = models.BooleanField(null=True)
    sol_enabled = models.BooleanField(null=True)
    wireless_configs = models.ManyToManyField(
        WirelessConfig, through="ProfileWirelessConfig", related_name="profiles", blank=True
    )
    proxy_configs = models.ManyToManyField(
        ProxyConfig, through="ProfileProxyConfig", related_name="profiles", blank=True
    )

    class Meta(NamedTenantRecord.Meta):
        permissions = [("export_profile", "Can export a profile with its secrets (encrypted)")]
        verbose_name = "AMT profile"

    @property
    def tls_secret_path(self) -> str:
        return vault.profile_tls_path(self.tenant_id, self.name)


class ProfileWirelessConfig(models.Model):
    """A profile's Wi-Fi config at a priority (1..255; lower is tried first)."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="wireless_links")
    wireless_config = models.ForeignKey(
        WirelessConfig, on_delete=models.PROTECT, related_name="profile_links", verbose_name="Wi-Fi config"
    )
    priority = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint("profile", "wireless_config", "priority", name="profile_wireless_priority")
        ]
        ordering = ["priority", Lower("wireless_config__name")]

    def __str__(self) -> str:
        return f"{self.profile_id} → wireless {self.wireless_config_id} @ {self.priority}"


class ProfileProxyConfig(models.Model):
    """A profile's proxy access point at a priority."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="proxy_links")
    proxy_config = models.ForeignKey(
        ProxyConfig, on_delete=models.PROTECT, related_name="profile_links", verbose_name="proxy config"
    )
    priority = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint("profile", "proxy_config", "priority", name="profile_proxy_priority")]
        ordering = [Lower("proxy_config__name"), "priority"]

    def __str__(self) -> str:
        return f"{self.profile_id} → proxy {self.proxy_config_id} @ {self.priority}"


class ProfileExportRecord(models.Model):
    """Who exported which profile of which tenant, and when (never the exported content)."""

    tenant_id = models.CharField(max_length=TENANT_LENGTH, blank=True, default="", db_index=True)
    profile_name = models.CharField(max_length=256)
    exported_by = models.CharField(max_length=150)
    exported_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-exported_at"]
        verbose_name = "profile export record"

    def __str__(self) -> str:
        return f"{self.profile_name} exported by {self.exported_by} at {self.exported_at:%Y-%m-%d %H:%M:%S}"
