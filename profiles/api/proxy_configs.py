"""REST endpoints for proxy configs (rest-api.md §2.6): `/api/v1/admin/proxyconfigs[/<name>]`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from profiles.api.resource import TenantResource
from profiles.models import ProxyConfig
from profiles.services.proxy_configs import (
    FQDN,
    IPV4,
    IPV6,
    ProxyConfigChanges,
    ProxyConfigInput,
    proxy_config_create,
    proxy_config_delete,
    proxy_config_not_found,
    proxy_config_update,
)
from rps_site.api.validation import MISSING, Field, Number, Shape, Text, js_regex, js_string

NAME_SOURCE = r"^[a-zA-Z0-9]+$"
NAME = js_regex(NAME_SOURCE)
PORT_TEXT = re.compile(r"[-+]?(0|[1-9][0-9]*)\Z")
# validator.js isFQDN (require_tld, no underscores, no trailing dot, no numeric TLD)
TLD = re.compile(r"([a-z\u00a1-\u00a8\u00aa-\ud7ff\uf900-\ufdcf\ufdf0-\uffef]{2,}|xn[a-z0-9-]{2,})\Z", re.IGNORECASE)
LABEL = re.compile(r"[a-z_\u00a1-\uffff0-9-]+\Z", re.IGNORECASE)
FULL_WIDTH = re.compile(r"[\uff01-\uff5e]")
WHITESPACE = re.compile(r"\s")
DIGITS = re.compile(r"[0-9]+\Z")
BODY: dict[str, Shape] = {
    "name": Text(pattern=NAME_SOURCE),  # the chains allow 32
    "address": Text(max_length=256),
    "port": Number(),
    "networkDnsSuffix": Text(),
}


def is_port(text: str) -> bool:
    """validator.js `isPort`: an integer 0..65535 without leading zeros."""
    return PORT_TEXT.match(text) is not None and 0 <= int(text) <= 65535


def is_fqdn(text: str) -> bool:
    labels = text.split(".")
    tld = labels[-1]
    if len(labels) < 2 or not TLD.match(tld) or WHITESPACE.search(tld) or DIGITS.match(tld):
        return False
    for label in labels:
        if len(label) > 63 or not LABEL.match(label) or FULL_WIDTH.search(label):
            return False
        if label.startswith("-") or label.endswith("-") or "_" in label:
            return False
    return True


def is_address(text: str) -> bool:
    return bool(IPV4.search(text) or IPV6.search(text) or FQDN.search(text))


def address_chains() -> list[Field]:
    return [
        Field("address")
        .not_empty("Server address is required")
        .check(is_address, "Server address must be a valid IPv4, IPv6, or FQDN"),
        Field("port").exists().check(is_port, "Port value should range between 1 and 65535"),
        Field("networkDnsSuffix")
        .not_empty("Domain name of the network is required")
        .check(is_fqdn, "Domain name of the network should contain alphanumeric and hyphens in the middle")
        .is_length(maximum=192, message="Domain name of the network maximum length is 192"),
    ]


def create_chains() -> list[Field]:
    return [
        Field("name")
        .not_empty("Proxy profile name is required")
        .matches(NAME, "Proxy profile name should be alphanumeric")
        .is_length(maximum=32, message="Proxy profile name maximum length is 32"),
        *address_chains(),
    ]


# A body the API accepts, published in the OpenAPI document.
EXAMPLE = {
    "name": "proxy1",
    "address": "proxy.example.com",
    "port": 3128,
    "networkDnsSuffix": "example.com",
}


COLUMNS = ("name", "address", "info_format", "port", "network_dns_suffix", "tenant_id")


def proxy_config_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """Upstream's shape: proxies have no `version`."""
    return {
        "name": row["name"],
        "address": row["address"],
        "infoFormat": row["info_format"],
        "port": row["port"],
        "networkDnsSuffix": row["network_dns_suffix"],
        "tenantId": row["tenant_id"],
    }


def proxy_config_input(body: Mapping[str, Any]) -> ProxyConfigInput:
    """A validated create body as the service takes it."""
    return ProxyConfigInput(
        name=js_string(body["name"]),
        address=js_string(body["address"]),
        port=int(js_string(body["port"])),
        network_dns_suffix=js_string(body["networkDnsSuffix"]),
    )


def proxy_config_changes(body: Mapping[str, Any]) -> ProxyConfigChanges:
    """A validated update body; upstream looks up a missing name as "undefined"."""
    name = body.get("name", MISSING)
    address, port, suffix = body.get("address"), body.get("port"), body.get("networkDnsSuffix")
    return ProxyConfigChanges(
        name="undefined" if name is MISSING else js_string(name),
        address=None if address is None else js_string(address),
        port=None if port is None else int(js_string(port)),
        network_dns_suffix=None if suffix is None else js_string(suffix),
    )


class ProxyConfigs(TenantResource):
    route = "proxyconfigs"
    model = ProxyConfig
    columns = COLUMNS
    record = staticmethod(proxy_config_record)
    not_found = staticmethod(proxy_config_not_found)
    body_shapes, example = BODY, EXAMPLE
    create_service = staticmethod(proxy_config_create)
    update_service = staticmethod(proxy_config_update)
    delete_service = staticmethod(proxy_config_delete)
    create_data, update_data = staticmethod(proxy_config_input), staticmethod(proxy_config_changes)
    versioned = False

    def chains(self, *, update: bool) -> list[Field]:
        # upstream does not validate the name on PATCH
        return address_chains() if update else create_chains()


urlpatterns = ProxyConfigs.urls()
