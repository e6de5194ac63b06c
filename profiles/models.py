"""What admins define: domains, AMT profiles and the configs profiles link to.

Secrets are not columns: each model knows its Vault path and only services write there
(rps_site.vault). Names are unique per tenant without regard to case and kept as typed;
look-ups and sorting go through `Lower`. `version` is drawn from rps_site.api.versions on
every write and answers the API's optimistic-concurrency checks.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from rps_site import vault

TENANT_LENGTH = 36


def unique_name_per_tenant(field: str, name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(Lower(field), "tenant_id", name=name)


class TenantOwned(models.Model):
    tenant_id = models.CharField(max_length=TENANT_LENGTH, blank=True, default="", db_index=True)
    version = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Domain(TenantOwned):
    """An ACM provisioning certificate (PFX) for a DNS suffix; PFX and password live in Vault."""

    class StorageFormat(models.TextChoices):
        RAW = "raw"
        STRING = "string"

    name = models.CharField(max_length=256)
    domain_suffix = models.CharField(max_length=256)
    provisioning_cert_storage_format = models.CharField(max_length=40, choices=StorageFormat.choices)
    expiration_date = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            unique_name_per_tenant("name", "domain_name_per_tenant"),
            unique_name_per_tenant("domain_suffix", "domain_suffix_per_tenant"),
        ]
        ordering = [Lower("name")]

    def __str__(self) -> str:
        return self.name

    @property
    def secret_path(self) -> str:
        return vault.domain_certificate_path(self.tenant_id, self.name)


class CiraConfig(TenantOwned):
    """How AMT dials back to MPS; the MPS password lives in Vault."""

    name = models.CharField(max_length=256)
    mps_server_address = models.CharField(max_length=256)
    mps_port = models.IntegerField()
    username = models.CharField(max_length=40)
    common_name = models.CharField(max_length=256, null=True, blank=True)
    server_address_format = models.IntegerField()
    auth_method = models.IntegerField()
    mps_root_certificate = models.TextField()
    proxy_details = models.TextField(null=True, blank=True)

    class Meta:
        constraints = [unique_name_per_tenant("name", "cira_config_name_per_tenant")]
        ordering = [Lower("name")]
        verbose_name = "CIRA config"

    def __str__(self) -> str:
        return self.name

    @property
    def secret_path(self) -> str:
        return vault.cira_config_path(self.tenant_id, self.name)


class Ieee8021xConfig(TenantOwned):
    """802.1X settings for wired or wireless links; the password lives in Vault."""

    name = models.CharField(max_length=256)
    authentication_protocol = models.IntegerField()
    server_name = models.CharField(max_length=255, null=True, blank=True)
    domain = models.CharField(max_length=255, null=True, blank=True)
    username = models.CharField(max_length=255, null=True, blank=True)
    roaming_identity = models.CharField(max_length=255, null=True, blank=True)
    active_in_s0 = models.BooleanField(null=True)
    pxe_timeout = models.IntegerField(null=True)
    wired_interface = models.BooleanField()

    class Meta:
        constraints = [unique_name_per_tenant("name", "ieee8021x_config_name_per_tenant")]
        ordering = ["created_at", "id"]
        verbose_name = "IEEE 802.1X config"

    def __str__(self) -> str:
        return self.name

    @property
    def secret_path(self) -> str:
        return vault.ieee8021x_config_path(self.tenant_id, self.name)


class WirelessConfig(TenantOwned):
    """A Wi-Fi profile; a PSK passphrase lives in Vault."""

    name = models.CharField(max_length=32)
    authentication_method = models.IntegerField()
    encryption_method = models.IntegerField()
    ssid = models.CharField(max_length=32)
    psk_value = models.IntegerField(null=True, blank=True)
    link_policy = models.JSONField(null=True, blank=True)
    ieee8021x_config = models.ForeignKey(
        Ieee8021xConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="wireless_configs"
    )

    class Meta:
        constraints = [unique_name_per_tenant("name", "wireless_config_name_per_tenant")]
        ordering = [Lower("name")]
        verbose_name = "wireless config"

    def __str__(self) -> str:
        return self.name

    @property
    def secret_path(self) -> str:
        return vault.wireless_config_path(self.tenant_id, self.name)


class ProxyConfig(TenantOwned):
    """An HTTP proxy access point AMT uses to reach MPS."""

    name = models.CharField(max_length=256)
    address = models.CharField(max_length=256)
    info_format = models.IntegerField()
    port = models.IntegerField()
    network_dns_suffix = models.CharField(max_length=192)

    class Meta:
        constraints = [
            unique_name_per_tenant("name", "proxy_config_name_per_tenant"),
            models.UniqueConstraint(Lower("address"), "port", "tenant_id", name="proxy_address_port_per_tenant"),
        ]
        ordering = [Lower("name")]
        verbose_name = "proxy config"

    def __str__(self) -> str:
        return self.name


class Profile(TenantOwned):
    """An AMT profile: how to activate a device and what to configure on it."""

    class Activation(models.TextChoices):
        ACM = "acmactivate", "Admin control mode"
        CCM = "ccmactivate", "Client control mode"

    class UserConsent(models.TextChoices):
        NONE = "None"
        ALL = "All"
        KVM = "KVM"

    class TlsSigningAuthority(models.TextChoices):
        SELF_SIGNED = "SelfSigned"
        MICROSOFT_CA = "MicrosoftCA"

    name = models.CharField(max_length=256)
    # Upstream validation accepts any ClientAction value here; only acm/ccm mean anything.
    activation = models.CharField(max_length=20)
    generate_random_password = models.BooleanField(default=False)
    generate_random_mebx_password = models.BooleanField(default=False)
    cira_config = models.ForeignKey(
        CiraConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="profiles"
    )
    ieee8021x_config = models.ForeignKey(
        Ieee8021xConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="profiles"
    )
    tags = models.JSONField(null=True, blank=True)
    dhcp_enabled = models.BooleanField(null=True)
    ip_sync_enabled = models.BooleanField(null=True)
    local_wifi_sync_enabled = models.BooleanField(null=True)
    uefi_wifi_sync_enabled = models.BooleanField(null=True)
    tls_mode = models.IntegerField(null=True, blank=True)
    tls_signing_authority = models.CharField(max_length=40, null=True, blank=True)
    user_consent = models.CharField(max_length=7, null=True, blank=True)
    ider_enabled = models.BooleanField(null=True)
    kvm_enabled = models.BooleanField(null=True)
    sol_enabled = models.BooleanField(null=True)
    wireless_configs = models.ManyToManyField(
        WirelessConfig, through="ProfileWirelessConfig", related_name="profiles", blank=True
    )
    proxy_configs = models.ManyToManyField(
        ProxyConfig, through="ProfileProxyConfig", related_name="profiles", blank=True
    )

    class Meta:
        constraints = [unique_name_per_tenant("name", "profile_name_per_tenant")]
        ordering = [Lower("name")]
        permissions = [("export_profile", "Can export a profile with its secrets (encrypted)")]
        verbose_name = "AMT profile"

    def __str__(self) -> str:
        return self.name

    @property
    def secret_path(self) -> str:
        return vault.profile_passwords_path(self.tenant_id, self.name)

    @property
    def tls_secret_path(self) -> str:
        return vault.profile_tls_path(self.tenant_id, self.name)


class ProfileWirelessConfig(models.Model):
    """A profile's Wi-Fi config at a priority (1..255; lower is tried first)."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="wireless_links")
    wireless_config = models.ForeignKey(WirelessConfig, on_delete=models.PROTECT, related_name="profile_links")
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
    proxy_config = models.ForeignKey(ProxyConfig, on_delete=models.PROTECT, related_name="profile_links")
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
