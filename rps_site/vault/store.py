"""KV v2 access with check-and-set: `SecretStore` and the process's one `secret_store()`.

Values enter and leave as `Secret`; nothing here logs them. A write whose answer is lost or late
is resolved before it returns (read back, compare, send again: `SecretStore._write`), so callers
never guess.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import hvac
import requests
from django.conf import settings
from hvac.exceptions import (
    Forbidden,
    InvalidPath,
    InvalidRequest,
    RateLimitExceeded,
    Unauthorized,
    VaultDown,
    VaultError,
    VaultNotInitialized,
)
from urllib3.exceptions import NewConnectionError

from metrics.registry import dependency_call
from rps_site.sensitive import Secret
from rps_site.vault.errors import (
    SecretVersionConflict,
    VaultCredentialRefused,
    VaultUnavailable,
    VaultWriteUnconfirmed,
)
from rps_site.vault.paths import MPS_CERTIFICATES_PATH
from rps_site.vault_auth import AppRole, VaultLoginFailed, VaultToken

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredSecret:
    """A secret as read: its keys (values masked) and the KV v2 version for check-and-set."""

    values: Mapping[str, Secret]
    version: int

    def get(self, key: str) -> Secret | None:
        return self.values.get(key)


# Each kind of path RPS uses, asked of Vault at start-up and by health: the token must hold what
# deploy/rps-vault-policy.hcl grants there (tests/rps_site/test_vault_auth.py keeps them equal).
CAPABILITY_SAMPLES = (
    "devices/00000000-0000-0000-0000-000000000000",
    MPS_CERTIFICATES_PATH,
    "profiles/rps-capability-probe",
    "tenants/rps-capability-probe/profiles/rps-capability-probe",
)
DATA_CAPABILITIES = ("create", "read", "update")
METADATA_CAPABILITIES = ("read", "delete", "list")
LISTED_FOLDERS = ("", "devices/", "tenants/")  # what rps_vault_audit lists
RESOLVE_ATTEMPTS = 3


class _VaultTokenHeader(requests.auth.AuthBase):
    """Sets the current token on every request, so a renewal or a new login reaches every thread."""

    def __init__(self, token: VaultToken) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Vault-Token"] = self._token.current()
        return request


def _maybe_sent(error: BaseException) -> bool:
    """Whether a failed request may have reached Vault: only a refused or timed-out connection
    and a failed TLS handshake are certain not to have (requests' error wrapping urllib3's:
    rps_site/private_apis.py)."""
    if isinstance(error, (requests.ConnectTimeout, requests.exceptions.SSLError)):
        return False
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return not isinstance(reason, NewConnectionError)


class SecretStore:
    """KV v2 access with check-and-set. Paths are relative to the configured prefix.

    Thread-safe: worker threads share one client; `VaultToken` keeps its token valid."""

    def __init__(
        self,
        *,
        addr: str,
        token: str = "",
        mount: str,
        prefix: str,
        timeout: float,
        verify: Any,
        approle: AppRole | None = None,
    ) -> None:
        self.token = VaultToken(addr=addr, verify=verify, timeout=timeout, static_token=token, approle=approle)
        session = requests.Session()
        session.verify = verify  # hvac prefers a session's own setting to its `verify` argument
        session.auth = _VaultTokenHeader(self.token)
        self._client = hvac.Client(url=addr, token="", timeout=timeout, verify=verify, session=session)
        self._addr = addr
        self._health_url = f"{addr.rstrip('/')}/v1/sys/health"
        self._timeout, self._verify = timeout, verify
        self._mount = mount
        self._prefix = prefix.strip("/")

    def _full(self, path: str) -> str:
        return f"{self._prefix}/{path}" if self._prefix else path

    def _call(self, request: Callable[[], Any]) -> Any:
        """One Vault request; a 403 with an AppRole token logs in again and retries once (the token
        may have been revoked or expired early; a 403 means nothing was done)."""
        used = self.token.current()
        try:
            return request()
        except Forbidden:
            if not self.token.invalidate(used):
                raise
            return request()

    @contextmanager
    def _guard(self, operation: str, *, mutating: bool = False) -> Iterator[None]:
        with dependency_call("vault", operation), self._translated_errors(operation, mutating=mutating):
            yield

    @contextmanager
    def _translated_errors(self, operation: str, *, mutating: bool) -> Iterator[None]:
        try:
            yield
        except (InvalidPath, SecretVersionConflict):
            raise
        except InvalidRequest as error:
            if "check-and-set" in str(error):
                raise SecretVersionConflict(operation) from None
            logger.error("vault refused %s: %s", operation, type(error).__name__)
            raise VaultUnavailable(operation) from None
        except (Forbidden, Unauthorized) as error:
            logger.error("vault refused the credential during %s: %s", operation, type(error).__name__)
            raise VaultCredentialRefused(operation) from None
        except VaultLoginFailed as error:
            logger.error("vault unavailable during %s: %s", operation, error)
            raise (VaultCredentialRefused if error.refused else VaultUnavailable)(operation) from None
        except (RateLimitExceeded, VaultNotInitialized, VaultDown) as error:
            logger.error("vault unavailable during %s: %s", operation, type(error).__name__)
            raise VaultUnavailable(operation) from None
        except (VaultError, requests.RequestException, OSError) as error:
            logger.error("vault unavailable during %s: %s", operation, type(error).__name__)
            raise VaultUnavailable(operation, maybe_applied=mutating and _maybe_sent(error)) from None

    def read(self, path: str) -> StoredSecret | None:
        with self._guard("read"):
            try:
                response = self._call(
                    lambda: self._client.secrets.kv.v2.read_secret_version(
                        path=self._full(path), mount_point=self._mount, raise_on_deleted_version=True
                    )
                )
            except InvalidPath:
                return None
        data = response["data"]
        return StoredSecret(
            values={key: Secret(str(value)) for key, value in (data["data"] or {}).items()},
            version=int(data["metadata"]["version"]),
        )

    def _send_write(self, path: str, plain: Mapping[str, str], cas: int) -> int:
        with self._guard("write", mutating=True):
            response = self._call(
                lambda: self._client.secrets.kv.v2.create_or_update_secret(
                    path=self._full(path), secret=dict(plain), cas=cas, mount_point=self._mount
                )
            )
        return int(response["data"]["version"])

    def _write(self, path: str, values: Mapping[str, Secret], cas: int) -> int:
        """A check-and-set write whose outcome is known when this returns.

        When the answer is lost or late the write may have landed, or may still land: read back
        and compare. Not there yet, the same check-and-set write goes again; if the first one
        lands later, its check-and-set fails and changes nothing. Vault unreachable meanwhile:
        `VaultWriteUnconfirmed`."""
        plain = {key: value.reveal() for key, value in values.items()}
        try:
            return self._send_write(path, plain, cas)
        except SecretVersionConflict:
            raise SecretVersionConflict(path) from None
        except VaultUnavailable as error:
            if not error.maybe_applied:
                raise
        for _attempt in range(RESOLVE_ATTEMPTS):
            try:
                landed = self._landed_version(path, plain, cas)
            except VaultUnavailable:
                raise VaultWriteUnconfirmed("write") from None
            if landed is not None:
                return landed
            try:
                return self._send_write(path, plain, cas)
            except SecretVersionConflict:
                continue  # something landed in between (ours, late): the next read-back says what
            except VaultUnavailable as error:
                if not error.maybe_applied:
                    raise VaultWriteUnconfirmed("write") from None
        raise VaultWriteUnconfirmed("write")

    def _landed_version(self, path: str, plain: Mapping[str, str], cas: int) -> int | None:
        """The version our write created, None if it has not landed, or a conflict if another
        writer's version is there."""
        current = self.read(path)
        current_version = current.version if current is not None else 0
        if current is not None and current_version == cas + 1:
            if {key: value.reveal() for key, value in current.values.items()} == plain:
                return current_version
        elif current_version == cas:
            return None
        raise SecretVersionConflict(path)

    def create(self, path: str, values: Mapping[str, Secret]) -> int:
        """Create-only (`cas=0`): raises `SecretVersionConflict` if anything is stored there."""
        return self._write(path, values, cas=0)

    def update(self, path: str, values: Mapping[str, Secret], *, expected_version: int) -> int:
        """Replace the key set if the stored version is still `expected_version`."""
        return self._write(path, values, cas=expected_version)

    def destroy(self, path: str) -> None:
        """Delete every version and the metadata (KV v2 permanent delete).

        Idempotent, so an unanswered destroy is simply sent again until Vault confirms it."""
        for attempt in range(RESOLVE_ATTEMPTS):
            try:
                with self._guard("destroy", mutating=True), suppress(InvalidPath):
                    self._call(
                        lambda: self._client.secrets.kv.v2.delete_metadata_and_all_versions(
                            path=self._full(path), mount_point=self._mount
                        )
                    )
                return
            except VaultUnavailable as error:
                if not error.maybe_applied or attempt == RESOLVE_ATTEMPTS - 1:
                    raise

    def ensure_destroyable(self, path: str) -> None:
        """Before a record is deleted: Vault answers, and this token may destroy its secret."""
        metadata_path = f"{self._mount}/metadata/{self._full(path)}"
        granted = self._capabilities([metadata_path])
        if not {"delete", "root"} & set(granted.get(metadata_path, ())):
            logger.error("the vault token may not destroy secrets (delete on %s/metadata)", self._mount)
            raise VaultCredentialRefused("destroy")

    def list_keys(self, folder: str) -> list[str]:
        with self._guard("list"):
            try:
                response = self._call(
                    lambda: self._client.secrets.kv.v2.list_secrets(path=self._full(folder), mount_point=self._mount)
                )
            except InvalidPath:
                return []
        return list(response["data"]["keys"])

    def updated_time(self, path: str) -> str | None:
        """When the secret's metadata last changed (RFC 3339), None if nothing is stored."""
        with self._guard("read metadata"):
            try:
                response = self._call(
                    lambda: self._client.secrets.kv.v2.read_secret_metadata(
                        path=self._full(path), mount_point=self._mount
                    )
                )
            except InvalidPath:
                return None
        return str(response["data"]["updated_time"])

    def _capabilities(self, paths: list[str]) -> dict[str, list[str]]:
        with self._guard("capabilities"):
            response = self._call(lambda: self._client.sys.get_capabilities(paths=paths))
        granted = response.get("data") or response
        return {path: list(granted.get(path) or []) for path in paths}

    def missing_capabilities(self) -> list[str]:
        """What the shipped policy grants that this token may not do, as `delete on <path>`."""
        wanted: dict[str, tuple[str, ...]] = {}
        for sample in CAPABILITY_SAMPLES:
            wanted[f"{self._mount}/data/{self._full(sample)}"] = DATA_CAPABILITIES
            wanted[f"{self._mount}/metadata/{self._full(sample)}"] = METADATA_CAPABILITIES
        for folder in LISTED_FOLDERS:
            wanted.setdefault(f"{self._mount}/metadata/{self._full(folder)}", ("list",))
        granted = self._capabilities(list(wanted))
        return [
            f"{capability} on {path}"
            for path, capabilities in wanted.items()
            if "root" not in granted[path]
            for capability in capabilities
            if capability not in granted[path]
        ]

    def credential_problem(self) -> str | None:
        """Why this credential is unfit for production, in a few words; None if it is fit.

        Refused: a root token, a token Vault does not accept, a static token that expires without
        renewal, and one lacking a capability the shipped policy grants on the paths RPS uses."""
        try:
            with self._guard("token lookup"):
                info = self._call(self._client.auth.token.lookup_self)["data"]
            missing = self.missing_capabilities()
        except VaultCredentialRefused:
            return "Vault refused it (invalid, expired or revoked token, or AppRole login refused)"
        except VaultUnavailable:
            return f"Vault at {self._addr} could not be asked (unreachable or sealed)"
        policies = {*(info.get("policies") or ()), *(info.get("identity_policies") or ())}
        if "root" in policies:
            return "it is a root token (policy 'root'); give RPS the policy in deploy/rps-vault-policy.hcl"
        ttl = int(info.get("ttl") or 0)
        if ttl and not info.get("renewable") and not self.token.uses_approle:
            return f"the token expires in {ttl} s and cannot be renewed; use a periodic token or AppRole"
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            return f"the token lacks {shown}; grant the policy in deploy/rps-vault-policy.hcl"
        return None

    def health(self) -> dict[str, Any] | str:
        """Vault's state as upstream passes it through (statuses only: versions and cluster identity
        help an attacker more than an operator), or what is wrong: `unreachable`, `not initialized`,
        `sealed`, `forbidden token` or `token lacks capabilities`."""
        try:
            response = requests.get(
                self._health_url, params={"standbyok": "true"}, timeout=self._timeout, verify=self._verify
            )
            body = response.json()
        except (requests.RequestException, OSError, ValueError):
            return "unreachable"
        if not isinstance(body, dict):
            return "unreachable"
        if body.get("initialized") is not True:
            return "not initialized"
        if body.get("sealed") is not False:
            return "sealed"
        try:
            if self.missing_capabilities():
                return "token lacks capabilities"
        except VaultCredentialRefused:
            return "forbidden token"
        except VaultUnavailable:
            return "unreachable"
        return {key: body[key] for key in ("initialized", "sealed", "standby") if key in body}


@lru_cache(maxsize=1)
def secret_store() -> SecretStore:
    approle = (
        AppRole(
            role_id=settings.VAULT_ROLE_ID,
            secret_id=settings.VAULT_SECRET_ID,
            secret_id_file=settings.VAULT_SECRET_ID_FILE,
            mount=settings.VAULT_APPROLE_MOUNT,
        )
        if settings.VAULT_ROLE_ID
        else None
    )
    return SecretStore(
        addr=settings.VAULT_ADDR,
        token=settings.VAULT_TOKEN,
        approle=approle,
        mount=settings.VAULT_MOUNT,
        prefix=settings.VAULT_PREFIX,
        timeout=settings.VAULT_TIMEOUT_SECONDS,
        verify=settings.VAULT_CA_FILE or True,
    )
