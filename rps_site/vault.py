"""The Vault storage layer: the one module every secret passes through.

KV v2 under `RPS_VAULT_MOUNT`/`RPS_VAULT_PREFIX`, laid out as upstream RPS and MPS expect
(DESIGN.md "Vault layout"). Every path segment goes through `path_segment`, so no resource name
or GUID can climb to another path. Values enter and leave as `Secret`; the layer never logs them.

Writes follow DESIGN.md "Nothing half-written": a create uses `cas=0` (it cannot overwrite),
an update uses the version read, a delete destroys every version once the database commit is
known. `SecretChanges` ties these to a database transaction and undoes what it wrote when the
transaction fails.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import hvac
import requests
from django.conf import settings
from django.db import transaction
from hvac.exceptions import InvalidPath, InvalidRequest, VaultError

from rps_site.sensitive import Secret

logger = logging.getLogger(__name__)

SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]+\Z")
DEVICE_GUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\Z")


class VaultUnavailable(Exception):
    """Vault could not be reached or refused the request for a reason that is not ours."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"secret store unavailable during {operation}")


class SecretVersionConflict(Exception):
    """A check-and-set write found a different version than expected."""

    def __init__(self, path: str) -> None:
        super().__init__(f"secret at {path} changed concurrently or already exists")
        self.path = path


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


@dataclass(frozen=True)
class StoredSecret:
    """A secret as read: its keys (values masked) and the KV v2 version for check-and-set."""

    values: Mapping[str, Secret]
    version: int

    def get(self, key: str) -> Secret | None:
        return self.values.get(key)


class SecretStore:
    """KV v2 access with check-and-set. Paths are relative to the configured prefix."""

    def __init__(self, *, addr: str, token: str, mount: str, prefix: str, timeout: float, verify: Any) -> None:
        self._client = hvac.Client(url=addr, token=token, timeout=timeout, verify=verify)
        self._health_url = f"{addr.rstrip('/')}/v1/sys/health"
        self._timeout, self._verify = timeout, verify
        self._mount = mount
        self._prefix = prefix.strip("/")

    def _full(self, path: str) -> str:
        return f"{self._prefix}/{path}" if self._prefix else path

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        try:
            yield
        except (InvalidPath, SecretVersionConflict):
            raise
        except InvalidRequest as error:
            if "check-and-set" in str(error):
                raise SecretVersionConflict(operation) from None
            logger.error("vault refused %s: %s", operation, type(error).__name__)
            raise VaultUnavailable(operation) from None
        except (VaultError, requests.RequestException, OSError) as error:
            logger.error("vault unavailable during %s: %s", operation, type(error).__name__)
            raise VaultUnavailable(operation) from None

    def read(self, path: str) -> StoredSecret | None:
        with self._guard("read"):
            try:
                response = self._client.secrets.kv.v2.read_secret_version(
                    path=self._full(path), mount_point=self._mount, raise_on_deleted_version=True
                )
            except InvalidPath:
                return None
        data = response["data"]
        return StoredSecret(
            values={key: Secret(str(value)) for key, value in (data["data"] or {}).items()},
            version=int(data["metadata"]["version"]),
        )

    def _write(self, path: str, values: Mapping[str, Secret], cas: int | None) -> int:
        plain = {key: value.reveal() for key, value in values.items()}
        with self._guard("write"):
            response = self._client.secrets.kv.v2.create_or_update_secret(
                path=self._full(path), secret=plain, cas=cas, mount_point=self._mount
            )
        return int(response["data"]["version"])

    def create(self, path: str, values: Mapping[str, Secret]) -> int:
        """Create-only (`cas=0`): raises `SecretVersionConflict` if anything is stored there."""
        try:
            return self._write(path, values, cas=0)
        except SecretVersionConflict:
            raise SecretVersionConflict(path) from None

    def update(self, path: str, values: Mapping[str, Secret], *, expected_version: int) -> int:
        """Replace the key set if the stored version is still `expected_version`."""
        try:
            return self._write(path, values, cas=expected_version)
        except SecretVersionConflict:
            raise SecretVersionConflict(path) from None

    def destroy(self, path: str) -> None:
        """Delete every version and the metadata (KV v2 permanent delete)."""
        with self._guard("destroy"):
            try:
                self._client.secrets.kv.v2.delete_metadata_and_all_versions(
                    path=self._full(path), mount_point=self._mount
                )
            except InvalidPath:
                return

    def list_keys(self, folder: str) -> list[str]:
        with self._guard("list"):
            try:
                response = self._client.secrets.kv.v2.list_secrets(path=self._full(folder), mount_point=self._mount)
            except InvalidPath:
                return []
        return list(response["data"]["keys"])

    def health(self) -> dict[str, Any] | str:
        """Vault's `sys/health` object as upstream passes it through, or `"unknown error"`."""
        try:
            response = requests.get(
                self._health_url, params={"standbyok": "true"}, timeout=self._timeout, verify=self._verify
            )
            body = response.json()
        except (requests.RequestException, OSError, ValueError):
            return "unknown error"
        if not isinstance(body, dict):
            return "unknown error"
        # Statuses only: versions and cluster identity help an attacker more than an operator here.
        return {key: body[key] for key in ("initialized", "sealed", "standby") if key in body}


@lru_cache(maxsize=1)
def secret_store() -> SecretStore:
    return SecretStore(
        addr=settings.VAULT_ADDR,
        token=settings.VAULT_TOKEN,
        mount=settings.VAULT_MOUNT,
        prefix=settings.VAULT_PREFIX,
        timeout=settings.VAULT_TIMEOUT_SECONDS,
        verify=settings.VAULT_CA_FILE or True,
    )


@dataclass
class SecretChanges:
    """Secret writes that belong to one database transaction.

    What was written is undone if the transaction does not commit: created secrets are
    destroyed, updated ones get their previous values back. Destroys are deferred until the
    commit is known, so a rolled-back delete keeps its secret.
    """

    store: SecretStore
    _created: list[str] = field(default_factory=list)
    _updated: list[tuple[str, StoredSecret | None, int]] = field(default_factory=list)
    _destroy_after_commit: list[str] = field(default_factory=list)

    def create(self, path: str, values: Mapping[str, Secret]) -> None:
        self.store.create(path, values)
        self._created.append(path)

    def replace(self, path: str, values: Mapping[str, Secret]) -> None:
        """Write the whole key set with check-and-set against the version read just before."""
        previous = self.store.read(path)
        if previous is None:
            self.create(path, values)
            return
        new_version = self.store.update(path, values, expected_version=previous.version)
        self._updated.append((path, previous, new_version))

    def destroy(self, path: str) -> None:
        self._destroy_after_commit.append(path)

    def undo(self) -> None:
        for path in reversed(self._created):
            self._best_effort(self.store.destroy, path)
        for path, previous, version in reversed(self._updated):
            if previous is not None:
                self._best_effort(
                    lambda p=path, v=previous, n=version: self.store.update(p, v.values, expected_version=n),
                    path,
                )

    def finish(self) -> None:
        for path in self._destroy_after_commit:
            self._best_effort(self.store.destroy, path)

    @staticmethod
    def _best_effort(action: Any, path: str) -> None:
        try:
            action(path)
        except (VaultUnavailable, SecretVersionConflict):
            logger.error("could not undo a secret write at %s; it is orphaned", path)


@contextmanager
def atomic_with_secrets() -> Iterator[SecretChanges]:
    """A database transaction whose secret writes are undone if it does not commit."""
    changes = SecretChanges(store=secret_store())
    try:
        with transaction.atomic():
            yield changes
    except BaseException:
        changes.undo()
        raise
    changes.finish()
