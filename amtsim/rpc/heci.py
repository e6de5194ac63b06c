"""What rpc-go reads from the Management Engine over HECI before it dials a server.

In process the client reads a ``VirtualAmtDevice`` directly; across processes it reads the
simulator's side channel ``GET /amtsim/heci`` on the device's HTTP port (loopback only; it
stands in for the MEI driver and is not part of AMT's WS-Man surface).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Protocol

from amtsim.device import DeviceEndpoint


@dataclass(frozen=True)
class HeciReport:
    uuid: str
    amt_version: str
    build: str
    sku: str
    features: str
    control_mode: int
    local_system_username: str | None
    local_system_password: str | None
    dns_suffix: str
    hostname: str
    trusted_root_hashes: list[str] = field(default_factory=list)
    tls_enforced: bool = False

    @classmethod
    def from_json(cls, data: dict[str, object]) -> HeciReport:
        account = data.get("local_system_account") or {}
        assert isinstance(account, dict)
        hashes = data.get("trusted_root_hashes") or []
        assert isinstance(hashes, list)
        return cls(
            uuid=str(data["uuid"]),
            amt_version=str(data["amt_version"]),
            build=str(data["build"]),
            sku=str(data["sku"]),
            features=str(data.get("features", "")),
            control_mode=int(str(data["control_mode"])),
            local_system_username=account.get("username"),
            local_system_password=account.get("password"),
            dns_suffix=str(data.get("dns_suffix", "")),
            hostname=str(data.get("hostname", "")),
            trusted_root_hashes=[str(value) for value in hashes],
            tls_enforced=bool(data.get("tls_enforced", False)),
        )


class HeciSource(Protocol):
    async def read(self) -> HeciReport: ...


@dataclass
class EndpointHeci:
    """Reads the device behind an endpoint: directly when in process, else over HTTP."""

    endpoint: DeviceEndpoint

    async def read(self) -> HeciReport:
        return HeciReport.from_json(self.endpoint.device.heci_report())


@dataclass
class HttpHeci:
    host: str
    port: int

    async def read(self) -> HeciReport:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 5.0)
        try:
            writer.write(b"GET /amtsim/heci HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), 5.0)
        finally:
            writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(f"no HECI side channel at {self.host}:{self.port}")
        return HeciReport.from_json(json.loads(body))
