"""The MPS REST client (protocol.md §4.5, §4.13), over `httpx.AsyncClient`.

Every call has a timeout and returns an `MpsOutcome` instead of raising: an MPS failure is
recorded on the provisioning run and never crashes an activation. Requests carry a bearer token
in MPS's own format for the device's tenant, so an MPS that checks tokens accepts them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from rps_site.authentication import issue_token

logger = logging.getLogger(__name__)

MPS_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class MpsOutcome:
    ok: bool
    status: int | None = None
    detail: str = ""
    body: Any = None

    @classmethod
    def skipped(cls) -> MpsOutcome:
        return cls(ok=True, detail="MPS is not configured (RPS_MPS_URL is empty)")


# One pooled client per event loop and MPS URL: building an AsyncClient creates an SSL context,
# which cost more CPU than a whole activation's own work when done per call.
_shared_clients: dict[tuple[int, str], httpx.AsyncClient] = {}


def shared_http_client(base_url: str) -> httpx.AsyncClient:
    key = (id(asyncio.get_running_loop()), base_url)
    client = _shared_clients.get(key)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(base_url=base_url, timeout=MPS_TIMEOUT, verify=True)
        _shared_clients[key] = client
    return client


class MpsClient:
    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._transport = transport

    @classmethod
    def from_settings(cls) -> MpsClient:
        return cls(settings.MPS_URL)

    @property
    def configured(self) -> bool:
        return bool(self._base_url)

    async def _send(
        self, method: str, path: str, *, tenant_id: str, json: Any = None, params: Any = None
    ) -> MpsOutcome:
        if not self.configured:
            return MpsOutcome.skipped()
        headers = {"Authorization": f"Bearer {issue_token(tenant_id=tenant_id, subject='rps', lifetime_seconds=300)}"}
        try:
            if self._transport is not None:
                async with httpx.AsyncClient(
                    base_url=self._base_url, timeout=MPS_TIMEOUT, transport=self._transport
                ) as client:
                    response = await client.request(method, path, json=json, params=params, headers=headers)
            else:
                response = await shared_http_client(self._base_url).request(
                    method, path, json=json, params=params, headers=headers
                )
        except httpx.HTTPError as error:
            logger.warning("MPS %s %s failed: %s", method, path, type(error).__name__)
            return MpsOutcome(ok=False, detail=f"MPS unreachable ({type(error).__name__})")
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        ok = 200 <= response.status_code < 300
        if not ok:
            logger.warning("MPS %s %s answered %s", method, path, response.status_code)
        return MpsOutcome(ok=ok, status=response.status_code, detail=f"MPS answered {response.status_code}", body=body)

    async def register_device(self, record: dict[str, Any]) -> MpsOutcome:
        return await self._send("POST", "/api/v1/devices", tenant_id=record.get("tenantId", ""), json=record)

    async def update_device(self, record: dict[str, Any]) -> MpsOutcome:
        return await self._send("PATCH", "/api/v1/devices", tenant_id=record.get("tenantId", ""), json=record)

    async def get_device(self, *, guid: str, tenant_id: str) -> MpsOutcome:
        return await self._send("GET", f"/api/v1/devices/{guid}", tenant_id=tenant_id, params={"tenantId": tenant_id})

    async def delete_device(self, *, guid: str, tenant_id: str) -> MpsOutcome:
        return await self._send(
            "DELETE", f"/api/v1/devices/{guid}", tenant_id=tenant_id, params={"tenantId": tenant_id}
        )

    async def refresh_device(self, *, guid: str, tenant_id: str) -> MpsOutcome:
        return await self._send("DELETE", f"/api/v1/devices/refresh/{guid}", tenant_id=tenant_id)
