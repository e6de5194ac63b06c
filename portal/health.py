"""Health of what provisioning depends on (Vault, the database, MPS), for the dashboard.

Read-only checks, run side by side, each given `deadline` seconds: a component that has not
answered by then is shown as not answering, and the page does not wait for it any longer (the
check's own thread ends with its own timeout).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum

import httpx
from django.conf import settings
from django.db import connection

from rps_site.authentication import issue_token
from rps_site.site_api import database_status
from rps_site.vault import secret_store

DEADLINE_SECONDS = 2.0


class State(StrEnum):
    OK = "ok"
    DOWN = "down"
    NOT_CONFIGURED = "not-configured"


@dataclass(frozen=True)
class ComponentHealth:
    name: str
    state: State
    detail: str


def vault_health() -> ComponentHealth:
    status = secret_store().health()  # the problem's name, or Vault's status object when all is well
    if isinstance(status, str):
        return ComponentHealth("Vault", State.DOWN, status)
    return ComponentHealth("Vault", State.OK, "standby, unsealed" if status.get("standby") else "unsealed")


def database_health() -> ComponentHealth:
    try:
        answer = database_status()
    finally:
        connection.close()  # this worker thread's connection goes back to the pool
    if answer != "OK":
        return ComponentHealth("Database", State.DOWN, answer)
    return ComponentHealth("Database", State.OK, connection.vendor)


def mps_health(timeout: float) -> ComponentHealth:
    if not settings.MPS_URL:
        return ComponentHealth("MPS", State.NOT_CONFIGURED, "RPS_MPS_URL is empty")
    token = issue_token(tenant_id="", subject="rps-health", lifetime_seconds=60)
    try:
        response = httpx.get(
            f"{settings.MPS_URL.rstrip('/')}/api/v1/health",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
    except httpx.HTTPError as error:
        return ComponentHealth("MPS", State.DOWN, f"unreachable ({type(error).__name__})")
    if response.status_code >= 400:
        return ComponentHealth("MPS", State.DOWN, f"answered HTTP {response.status_code}")
    return ComponentHealth("MPS", State.OK, f"answered HTTP {response.status_code}")


def component_health(*, deadline: float = DEADLINE_SECONDS) -> list[ComponentHealth]:
    checks: dict[str, Callable[[], ComponentHealth]] = {
        "Vault": vault_health,
        "Database": database_health,
        "MPS": lambda: mps_health(deadline),
    }
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="portal-health")
    try:
        futures = {name: pool.submit(check) for name, check in checks.items()}
        wait(futures.values(), timeout=deadline)
    finally:
        pool.shutdown(wait=False)
    results = []
    for name, future in futures.items():
        if not future.done():
            results.append(ComponentHealth(name, State.DOWN, f"no answer within {deadline:g} s"))
        elif future.exception() is not None:
            results.append(ComponentHealth(name, State.DOWN, f"check failed ({type(future.exception()).__name__})"))
        else:
            results.append(future.result())
    return results
