"""The MPS REST client (protocol.md §4.5, §4.13), over httpx.

Every call has a timeout and returns an `MpsOutcome` instead of raising: an MPS failure is
recorded on the provisioning run and never crashes an activation. Requests carry a bearer token
in MPS's own format for the device's tenant, so an MPS that checks tokens accepts them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx
from django.conf import settings

from metrics.registry import dependency_call, dependency_call_failed
from rps_site.authentication import issue_token

logger = logging.getLogger(__name__)

MPS_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class MpsOutcome:
    ok: bool
    status: int | None = None
    detail: str = ""
    body: Any = None
    # False: nothing was sent, MPS is not configured (a deployment without MPS). `ok` stays true
    # so nothing that needs MPS fails for it; the run records the step as skipped.
    configured: bool = True

    @classmethod
    def skipped(cls) -> MpsOutcome:
        return cls(ok=True, detail="MPS is not configured (RPS_MPS_URL is empty)", configured=False)


# At most this many calls to MPS at once per worker; more wait their turn here. httpcore's pool
# scans every connection and every queued request each time a request starts or ends, so a
# burst of hundreds of registrations let in at once cost more CPU than the requests.
MPS_CONCURRENT_CALLS: Final = 8


@dataclass
class _SharedMpsConnection:
    """httpx's connection pool (its transport) for MPS calls, one per event loop: building one
    creates an SSL context, which cost more CPU than a whole activation's own work when done per
    call. Calls go to the transport itself: the client layer above it (URL merging, cookies,
    auth and redirect handling) does nothing for these calls and cost a third of each."""

    transport: httpx.AsyncHTTPTransport
    turns: asyncio.Semaphore


_shared_connections: dict[int, _SharedMpsConnection] = {}


def _shared_connection() -> _SharedMpsConnection:
    key = id(asyncio.get_running_loop())
    shared = _shared_connections.get(key)
    if shared is None:
        transport = httpx.AsyncHTTPTransport(
            verify=True,
            limits=httpx.Limits(max_connections=MPS_CONCURRENT_CALLS, max_keepalive_connections=MPS_CONCURRENT_CALLS),
        )
        shared = _SharedMpsConnection(transport, asyncio.Semaphore(MPS_CONCURRENT_CALLS))
        _shared_connections[key] = shared
    return shared


SERVICE_TOKEN_LIFETIME: Final = 300
SERVICE_TOKEN_REUSE: Final = 240  # a token is reused for 4 of its 5 minutes, never near its expiry
_service_tokens: dict[tuple[str, str, str], tuple[float, str]] = {}


def _service_token(tenant_id: str) -> str:
    """RPS's bearer token for MPS calls in a tenant; signing one per call cost more than the rest
    of building the request. Keyed by the signing key and issuer too: settings can change."""
    key = (tenant_id, settings.JWT_SECRET, settings.JWT_ISSUER)
    now = time.monotonic()
    cached = _service_tokens.get(key)
    if cached is not None and now - cached[0] < SERVICE_TOKEN_REUSE:
        return cached[1]
    token = issue_token(tenant_id=tenant_id, subject="rps", lifetime_seconds=SERVICE_TOKEN_LIFETIME)
    _service_tokens[key] = (now, token)
    return token


class MpsClient:
    def __init__(self, base_url: str) -> None:
        self._base_url = base_url.rstrip("/")

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
        request = httpx.Request(
            method,
            f"{self._base_url}{path}",
            params=params,
            json=json,
            headers={"Authorization": f"Bearer {_service_token(tenant_id)}"},
            extensions={"timeout": MPS_TIMEOUT.as_dict()},
        )
        shared = _shared_connection()
        try:
            async with shared.turns:
                with dependency_call("mps", method):
                    response = await shared.transport.handle_async_request(request)
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
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
        if response.status_code >= 500:
            dependency_call_failed("mps", method, f"status {response.status_code}")
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
