"""Writes of proxy configs (no secret, no version check, as upstream). `infoFormat` is always
derived from the address: 4 for IPv6, 3 for IPv4, 201 (FQDN) otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DataError, IntegrityError, transaction

from audit.services import audited_record_write
from profiles.models import ProxyConfig
from profiles.services.named_records import locked_by_name
from rps_site.api.validation import js_regex
from rps_site.api.versions import next_version
from rps_site.errors import Duplicate, InUse, NotFound, OperationFailed

IPV4 = js_regex(r"^((25[0-5]|(2[0-4]|1\d|[1-9]|)\d)\.?\b){4}$")
IPV6 = js_regex(
    r"^(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}"
    r"|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}"
    r"|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}"
    r"|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)"
    r"|fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]+"
    r"|::(ffff(:0{1,4})?:)?((25[0-5]|(2[0-4]|1?[0-9])?[0-9])\.){3}(25[0-5]|(2[0-4]|1?[0-9])?[0-9])"
    r"|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1?[0-9])?[0-9])\.){3}(25[0-5]|(2[0-4]|1?[0-9])?[0-9]))$"
)
FQDN = js_regex(r"^(?!:\/\/)([a-zA-Z0-9-_]+\.)*[a-zA-Z0-9][a-zA-Z0-9-_]+\.[a-zA-Z]{2,11}?$")


def info_format(address: str) -> int:
    if IPV6.search(address):
        return 4
    if IPV4.search(address):
        return 3
    return 201


def proxy_config_not_found(name: str) -> NotFound:
    return NotFound(f"Proxy profile {name} Not Found")


@dataclass(frozen=True)
class ProxyConfigInput:
    """A new proxy config."""

    name: str
    address: str
    port: int
    network_dns_suffix: str


@dataclass(frozen=True)
class ProxyConfigChanges:
    """An update: `name` finds the record; a field left None keeps its stored value."""

    name: str
    address: str | None = None
    port: int | None = None
    network_dns_suffix: str | None = None


@audited_record_write("proxyconfigs", "create", ProxyConfig)
def proxy_config_create(*, tenant_id: str, data: ProxyConfigInput) -> ProxyConfig:
    name = data.name
    try:
        with transaction.atomic():
            return ProxyConfig.objects.create(
                tenant_id=tenant_id,
                name=name,
                address=data.address,
                info_format=info_format(data.address),
                port=data.port,
                network_dns_suffix=data.network_dns_suffix,
                version=next_version(),
            )
    except DataError:
        raise OperationFailed(f"Operation failed for Proxy profile: {name}") from None
    except IntegrityError:
        # Upstream names the new proxy even when the clash is on address and port (Q20).
        raise Duplicate(f"Proxy profile {name} already exists") from None


@audited_record_write("proxyconfigs", "update", ProxyConfig)
def proxy_config_update(*, tenant_id: str, data: ProxyConfigChanges) -> ProxyConfig:
    name = data.name
    with transaction.atomic():
        config = locked_by_name(ProxyConfig, tenant_id=tenant_id, name=name, not_found=proxy_config_not_found)
        if data.address is not None:
            config.address = data.address
        config.info_format = info_format(config.address)
        if data.port is not None:
            config.port = data.port
        if data.network_dns_suffix is not None:
            config.network_dns_suffix = data.network_dns_suffix
        config.version = next_version()
        try:
            with transaction.atomic():
                config.save()
        except (IntegrityError, DataError):
            raise OperationFailed(f"Operation failed for Proxy profile: {name}") from None
    return config


@audited_record_write("proxyconfigs", "delete", ProxyConfig)
def proxy_config_delete(*, tenant_id: str, name: str) -> None:
    with transaction.atomic():
        config = locked_by_name(ProxyConfig, tenant_id=tenant_id, name=name, not_found=proxy_config_not_found)
        if config.profile_links.exists():
            raise InUse(f"Proxy profile: {name} is associated with an AMT Profile.")
        config.delete()
