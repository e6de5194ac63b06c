"""How RPS proves itself to Vault: a static token, or an AppRole login, kept valid while it runs.

AppRole (`RPS_VAULT_ROLE_ID` and a secret ID, from `RPS_VAULT_SECRET_ID_FILE` or
`RPS_VAULT_SECRET_ID`) means no long-lived token: RPS logs in and receives a short-lived one.
`VaultToken` hands every thread that talks to Vault a valid token. A token with a TTL is renewed
once two thirds of its lease have passed, by the thread that asks first or by a daemon thread
while the server is idle (so a periodic static token does not lapse over a quiet weekend). When
renewal is refused or capped by the token's maximum TTL, AppRole logs in again, re-reading the
secret-ID file; a static token is used until Vault refuses it (health then says so).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import hvac
import requests
from hvac.exceptions import VaultError

logger = logging.getLogger(__name__)

RENEW_AFTER = 2 / 3  # of each lease, as Vault Agent does: a third of the lease is left to retry
RETRY_SECONDS = 5.0  # after a failed login or look-up, before the next attempt
IDLE_CHECK_SECONDS = 60.0


class VaultLoginFailed(Exception):
    """AppRole login did not give a token; `refused` when Vault answered no (bad role or secret ID)."""

    def __init__(self, reason: str, *, refused: bool) -> None:
        super().__init__(f"Vault AppRole login failed: {reason}")
        self.refused = refused


@dataclass(frozen=True)
class AppRole:
    role_id: str
    secret_id: str = ""
    secret_id_file: str = ""
    mount: str = "approle"

    def read_secret_id(self) -> str:
        if not self.secret_id_file:
            return self.secret_id
        try:
            return Path(self.secret_id_file).read_text().strip()
        except OSError as error:
            raise VaultLoginFailed(
                f"RPS_VAULT_SECRET_ID_FILE cannot be read ({error.strerror})", refused=False
            ) from None


@dataclass(frozen=True)
class Lease:
    token: str
    granted: int  # seconds Vault granted at login or at the last renewal; 0: never expires
    expires_at: float | None
    refresh_at: float | None  # when to renew (or log in again, or retry a failed attempt)
    renewable: bool
    final: bool = False  # the last renewal was capped by the maximum TTL

    @classmethod
    def granted_at(cls, now: float, token: str, granted: int, *, renewable: bool, final: bool = False) -> Lease:
        if not granted:
            return cls(token, 0, None, None, renewable=False)
        return cls(token, granted, now + granted, now + granted * RENEW_AFTER, renewable, final)


class VaultToken:
    """The token for every Vault request, from any thread; renews or logs in again as needed."""

    def __init__(
        self,
        *,
        addr: str,
        verify: Any,
        timeout: float,
        static_token: str = "",
        approle: AppRole | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Used only under the lock: login, renew-self and lookup-self for the token being managed.
        self._auth_client = hvac.Client(url=addr, token="", verify=verify, timeout=timeout)
        self._static_token = static_token
        self._approle = approle
        self._clock = clock
        self._lock = threading.Lock()
        self._lease: Lease | None = None
        self._closed = threading.Event()
        self._keeper: threading.Thread | None = None

    @property
    def uses_approle(self) -> bool:
        return self._approle is not None

    def current(self) -> str:
        with self._lock:
            lease = self._lease
            now = self._clock()
            if lease is None or (lease.refresh_at is not None and now >= lease.refresh_at):
                lease = self._lease = self._refreshed(lease, now)
                self._start_keeper()
            return lease.token

    def invalidate(self, token: str) -> bool:
        """Vault refused `token` (revoked, expired early): with AppRole, log in again on next use."""
        with self._lock:
            if self._approle is None or self._lease is None or self._lease.token != token:
                return False
            self._lease = None
            return True

    def close(self) -> None:
        self._closed.set()

    def seconds_until_refresh(self) -> float:
        lease = self._lease
        if lease is None or lease.refresh_at is None:
            return IDLE_CHECK_SECONDS
        return lease.refresh_at - self._clock()

    def _refreshed(self, lease: Lease | None, now: float) -> Lease:
        if lease is not None and lease.renewable and not lease.final:
            renewed = self._renewed(lease, now)
            if renewed is not None:
                return renewed
        if self._approle is not None:
            try:
                return self._logged_in(self._approle, now)
            except VaultLoginFailed:
                expires_at = lease.expires_at if lease is not None else None
                if lease is None or expires_at is None or now >= expires_at:
                    raise
                # The old token still works for a while: keep it and try again shortly.
                logger.error("vault AppRole login failed; the current token expires in %.0f s", expires_at - now)
                return replace(lease, refresh_at=now + RETRY_SECONDS)
        if lease is not None and lease.final:
            logger.error("the Vault token reached its maximum TTL and cannot be renewed; it expires soon")
            return replace(lease, refresh_at=None)
        return self._looked_up(now)

    def _renewed(self, lease: Lease, now: float) -> Lease | None:
        self._auth_client.token = lease.token
        try:
            auth = self._auth_client.auth.token.renew_self()["auth"]
        except (VaultError, requests.RequestException, OSError) as error:
            logger.warning("vault token renewal failed (%s)", type(error).__name__)
            return None
        granted = int(auth["lease_duration"])
        logger.debug("vault token renewed for %d s", granted)
        # A grant shorter than the last one was capped by the maximum TTL: the next refresh logs in.
        return Lease.granted_at(
            now, lease.token, granted, renewable=bool(auth["renewable"]), final=granted < lease.granted
        )

    def _logged_in(self, approle: AppRole, now: float) -> Lease:
        secret_id = approle.read_secret_id()
        try:
            auth = self._auth_client.auth.approle.login(
                approle.role_id, secret_id, use_token=False, mount_point=approle.mount
            )["auth"]
        except VaultError as error:
            raise VaultLoginFailed(f"Vault refused it ({type(error).__name__})", refused=True) from None
        except (requests.RequestException, OSError) as error:
            raise VaultLoginFailed(f"Vault unreachable ({type(error).__name__})", refused=False) from None
        logger.info("vault AppRole login: a token for %d s", int(auth["lease_duration"]))
        return Lease.granted_at(
            now, auth["client_token"], int(auth["lease_duration"]), renewable=bool(auth["renewable"])
        )

    def _looked_up(self, now: float) -> Lease:
        """A static token's TTL; unknown for now (Vault down, no lookup-self right): ask again later."""
        self._auth_client.token = self._static_token
        try:
            data = self._auth_client.auth.token.lookup_self()["data"]
        except (VaultError, requests.RequestException, OSError):
            return Lease(self._static_token, 0, None, now + RETRY_SECONDS, renewable=False)
        return Lease.granted_at(
            now, self._static_token, int(data.get("ttl") or 0), renewable=bool(data.get("renewable"))
        )

    def _start_keeper(self) -> None:
        if self._keeper is None and self._lease is not None and self._lease.refresh_at is not None:
            self._keeper = threading.Thread(
                target=_keep_fresh, args=(weakref.ref(self), self._closed), name="vault-token-renewal", daemon=True
            )
            self._keeper.start()


def _keep_fresh(reference: weakref.ref[VaultToken], closed: threading.Event) -> None:
    """Refresh the token when it is due even if no request asks for it; ends with its owner."""
    while True:
        source = reference()
        if source is None:
            return
        wait = source.seconds_until_refresh()
        del source  # the owner may be collected while this thread sleeps
        if closed.wait(max(wait, 0.05)):
            return
        source = reference()
        if source is None:
            return
        try:
            source.current()
        except VaultLoginFailed as error:
            logger.error("%s", error)
        del source
