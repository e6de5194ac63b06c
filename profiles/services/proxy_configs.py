"""Writes of proxy configs (no secret, no version check, as upstream). `infoFormat` is always
derived from the address: 4 for IPv6, 3 for IPv4, 201 (FQDN) otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import DataError, IntegrityError, transaction

from profiles.models import ProxyConfig
from profiles.services.named_records import locked_by_name
from rps_site.api.validation import MISSING, js_regex, js_string
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


def proxy_config_create(*, tenant_id: str, data: Mapping[str, Any]) -> ProxyConfig:
    name = js_string(data["name"])
    address = js_string(data["address"])
    try:
        with transaction.atomic():
            return ProxyConfig.objects.create(
                tenant_id=tenant_id,
                name=name,
                address=address,
                info_format=info_format(address),
                port=int(js_string(data["port"])),
                network_dns_suffix=js_string(data["networkDnsSuffix"]),
                version=next_version(),
            )
    except DataError:
        raise OperationFailed(f"Operation failed for Proxy profile: {name}") from None
    except IntegrityError:
        # Upstream names the new proxy even when the clash is on address and port (Q20).
        raise Duplicate(f"Proxy profile {name} already exists") from None


def proxy_config_update(*, tenant_id: str, data: Mapping[str, Any]) -> ProxyConfig:
    raw_name = data.get("name", MISSING)
    name = "undefined" if raw_name is MISSING else js_string(raw_name)
    with transaction.atomic():
        config = locked_by_name(ProxyConfig, tenant_id=tenant_id, name=name, not_found=proxy_config_not_found)
        if data.get("address") is not None:
            config.address = js_string(data["address"])
        config.info_format = info_format(config.address)
        if data.get("port") is not None:
            config.port = int(js_string(data["port"]))
        if data.get("networkDnsSuffix") is not None:
            config.network_dns_suffix = js_string(data["networkDnsSuffix"])
        config.version = next_version()
        try:
            with transaction.atomic():
                config.save()
        except (IntegrityError, DataError):
            raise OperationFailed(f"Operation failed for Proxy profile: {name}") from None
    return config


def proxy_config_delete(*, tenant_id: str, name: str) -> None:
    with transaction.atomic():
        config = locked_by_name(ProxyConfig, tenant_id=tenant_id, name=name, not_found=proxy_config_not_found)
        if config.profile_links.exists():
            raise InUse(f"Proxy profile: {name} is associated with an AMT Profile.")
        config.delete()
