"""Proxies (protocol.md §4.7.5): IPS_HTTPProxyService.AddProxyAccessPoint and the access points
it made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from activation.wsman.call import Enumeration, MethodResult, WsmanCall, method_call, nothing_to_read
from activation.wsman.envelope import (
    Selector,
    delete_request,
    ips_resource,
    method_request,
)
from activation.wsman.network import AddressFormat

HTTP_PROXY_SERVICE_URI: Final = ips_resource("IPS_HTTPProxyService")
HTTP_PROXY_ACCESS_POINT_URI: Final = ips_resource("IPS_HTTPProxyAccessPoint")


def add_proxy_access_point(
    *, address: str, address_format: AddressFormat, port: int, network_dns_suffix: str
) -> WsmanCall[MethodResult]:
    request = method_request(
        HTTP_PROXY_SERVICE_URI,
        "AddProxyAccessPoint",
        [
            ("AccessInfo", address),
            ("InfoFormat", str(int(address_format))),
            ("Port", str(port)),
            ("NetworkDnsSuffix", network_dns_suffix),
        ],
    )
    return method_call("IPS_HTTPProxyService.AddProxyAccessPoint", request, "AddProxyAccessPoint")


@dataclass(frozen=True)
class HttpProxyAccessPoint:
    name: str


HTTP_PROXY_ACCESS_POINTS: Final = Enumeration(
    "IPS_HTTPProxyAccessPoint",
    HTTP_PROXY_ACCESS_POINT_URI,
    lambda instance: HttpProxyAccessPoint(name=instance.value("Name") or ""),
)


def delete_http_proxy_access_point(name: str) -> WsmanCall[None]:
    return WsmanCall(
        "IPS_HTTPProxyAccessPoint.Delete",
        delete_request(HTTP_PROXY_ACCESS_POINT_URI, Selector("Name", name)),
        nothing_to_read,
    )
