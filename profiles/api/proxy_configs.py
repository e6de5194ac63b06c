"""REST endpoints for proxy configs (rest-api.md §2.6): `/api/v1/admin/proxyconfigs[/<name>]`."""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, re_path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from profiles.api.common import js_regex, json_body, list_response, schema
from profiles.models import ProxyConfig
from profiles.selectors.proxy_configs import (
    proxy_config_count,
    proxy_config_get,
    proxy_config_list,
    proxy_config_record,
    proxy_config_record_of,
)
from profiles.services.proxy_configs import (
    FQDN,
    IPV4,
    IPV6,
    proxy_config_create,
    proxy_config_delete,
    proxy_config_not_found,
    proxy_config_update,
)
from rps_site.api.validation import Field, Number, Shape, Text, validate
from rps_site.authentication import request_tenant

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


class ProxyConfigCollection(APIView):
    permission_model = ProxyConfig

    @schema("proxyconfigs", operation_id="proxyconfigs_list", paged=True)
    def get(self, request: Request) -> Response:
        tenant_id = request_tenant(request)
        return list_response(
            request,
            lambda page: proxy_config_list(tenant_id=tenant_id, page=page),
            lambda: proxy_config_count(tenant_id=tenant_id),
            proxy_config_record,
        )

    @schema("proxyconfigs", status=201, body=BODY, example=EXAMPLE)
    def post(self, request: Request) -> Response:
        body = json_body(request)
        validate(create_chains(), body, shapes=BODY)
        config = proxy_config_create(tenant_id=request_tenant(request), data=body)
        return Response(proxy_config_record_of(config), status=201)

    @schema("proxyconfigs", body=BODY)
    def patch(self, request: Request) -> Response:
        body: dict[str, Any] = json_body(request)
        validate(address_chains(), body, shapes=BODY)  # upstream does not validate the name on PATCH
        config = proxy_config_update(tenant_id=request_tenant(request), data=body)
        return Response(proxy_config_record_of(config))


class ProxyConfigItem(APIView):
    permission_model = ProxyConfig

    @schema("proxyconfigs")
    def get(self, request: Request, name: str) -> Response:
        config = proxy_config_get(tenant_id=request_tenant(request), name=name)
        if config is None:
            raise proxy_config_not_found(name)
        return Response(proxy_config_record_of(config))

    @schema("proxyconfigs", status=204)
    def delete(self, request: Request, name: str) -> Response:
        proxy_config_delete(tenant_id=request_tenant(request), name=name)
        return Response(status=204)


urlpatterns: list[URLPattern] = [
    re_path(r"^proxyconfigs/?$", ProxyConfigCollection.as_view(), name="proxyconfigs"),
    re_path(r"^proxyconfigs/(?P<name>[^/]+)/?$", ProxyConfigItem.as_view(), name="proxyconfig"),
]
