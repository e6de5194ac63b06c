"""Where each secret lives in Vault (DESIGN.md "Vault layout", spec/rest-api.md §3.2-3.3).

Every path segment goes through `path_segment`, so no resource name or GUID can climb to
another path; the empty tenant keeps upstream's exact layout.
"""

from __future__ import annotations

import re

SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]+\Z")
DEVICE_GUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\Z")


class InvalidDeviceGuid(ValueError):
    def __init__(self) -> None:
        super().__init__("device GUID must be 36 hexadecimal characters in 8-4-4-4-12 groups")


def path_segment(name: str) -> str:
    """One path segment: safe names unchanged, anything else percent-encoded byte by byte.

    `/`, `.`, `%` and everything outside `[A-Za-z0-9_-]` are encoded, so `../devices/x` is one
    opaque segment `%2E%2E%2Fdevices%2Fx`, never a walk to another path.
    """
    if SAFE_SEGMENT.match(name):
        return name
    return "".join(chr(byte) if SAFE_SEGMENT.match(chr(byte)) else f"%{byte:02X}" for byte in name.encode("utf-8"))


def tenant_path(tenant_id: str, kind: str, name: str) -> str:
    """The path of a tenant's secret; the empty tenant keeps upstream's exact layout."""
    relative = f"{kind}/{path_segment(name)}"
    return f"tenants/{path_segment(tenant_id)}/{relative}" if tenant_id else relative


def device_path(guid: str) -> str:
    """`devices/<guid>`, global as MPS reads it; the GUID must be canonical after lower-casing."""
    canonical = guid.lower()
    if not DEVICE_GUID.match(canonical):
        raise InvalidDeviceGuid()
    return f"devices/{canonical}"


def domain_certificate_path(tenant_id: str, name: str) -> str:
    return tenant_path(tenant_id, "certs", name)


def profile_passwords_path(tenant_id: str, name: str) -> str:
    return tenant_path(tenant_id, "profiles", name)


def profile_tls_path(tenant_id: str, name: str) -> str:
    return tenant_path(tenant_id, "TLS", name)


def cira_config_path(tenant_id: str, name: str) -> str:
    return tenant_path(tenant_id, "CIRAConfigs", name)


def wireless_config_path(tenant_id: str, name: str) -> str:
    return tenant_path(tenant_id, "Wireless", name)


def ieee8021x_config_path(tenant_id: str, name: str) -> str:
    return tenant_path(tenant_id, "IEEE8021xConfigs", name)


MPS_CERTIFICATES_PATH = "MPSCerts"
