"""Writes of CIRA configs. The MPS password lives only in Vault at `CIRAConfigs/<name>`
(`MPS_PASSWORD`), written by POST and by PATCH (upstream wrote a PATCHed password into the
database in clear text, Q6); the row and the secret commit together or not at all."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from django.db import DataError, IntegrityError

from audit.services import audited_record_write
from profiles.models import CiraConfig
from profiles.services.named_records import locked_by_name, record_with_secret_delete
from rps_site.api.versions import next_version
from rps_site.errors import Duplicate, InUse, NotFound, OperationFailed, VersionConflict
from rps_site.sensitive import Secret
from rps_site.vault import atomic_with_secrets

MPS_PASSWORD = "MPS_PASSWORD"


@dataclass(frozen=True)
class CiraConfigInput:
    """A CIRA config as written: `name` finds (or names) the record, a field left None keeps its
    stored value (on create, the column's default), and a password replaces the Vault secret."""

    name: str
    mps_server_address: str | None = None
    mps_port: int | None = None
    username: str | None = None
    common_name: str | None = None
    server_address_format: int | None = None
    auth_method: int | None = None
    mps_root_certificate: str | None = None
    proxy_details: str | None = None
    password: Secret | None = None

    def columns(self) -> dict[str, Any]:
        """The model fields given."""
        given = {field.name: getattr(self, field.name) for field in fields(self)}
        return {key: value for key, value in given.items() if key not in ("name", "password") and value is not None}


def cira_config_not_found(name: str) -> NotFound:
    return NotFound(f"CIRA profile {name} Not Found")


@audited_record_write("ciraconfigs", "create", CiraConfig)
def cira_config_create(*, tenant_id: str, data: CiraConfigInput) -> CiraConfig:
    name, password = data.name, data.password
    try:
        with atomic_with_secrets() as secrets:
            config = CiraConfig.objects.create(tenant_id=tenant_id, name=name, version=next_version(), **data.columns())
            if password:
                secrets.create(config.secret_path, {MPS_PASSWORD: password})
    except IntegrityError:
        raise Duplicate(f"CIRA Config {name} already exists.") from None
    except DataError:
        raise OperationFailed(f"Operation failed: {name}") from None
    return config


@audited_record_write("ciraconfigs", "update", CiraConfig)
def cira_config_update(*, tenant_id: str, data: CiraConfigInput, expected_version: int | None) -> CiraConfig:
    """Every given field replaces the stored one, if the stored version is `expected_version`; a
    given password replaces the Vault secret."""
    name, password = data.name, data.password
    try:
        with atomic_with_secrets() as secrets:
            config = locked_by_name(CiraConfig, tenant_id=tenant_id, name=name, not_found=cira_config_not_found)
            changes = data.columns()
            if expected_version is None or not CiraConfig.objects.filter(pk=config.pk, version=expected_version).update(
                version=next_version(), **changes
            ):
                raise VersionConflict(config, config.version)
            if password:
                secrets.replace(config.secret_path, {MPS_PASSWORD: password})
    except (IntegrityError, DataError):
        raise OperationFailed(f"Operation failed: {name}") from None
    config.refresh_from_db()
    return config


@audited_record_write("ciraconfigs", "delete", CiraConfig)
def cira_config_delete(*, tenant_id: str, name: str) -> None:
    record_with_secret_delete(
        CiraConfig,
        tenant_id=tenant_id,
        name=name,
        not_found=cira_config_not_found,
        refusal=lambda config: (
            InUse(f"CIRA Config: {name} is associated with an AMT profile") if config.profiles.exists() else None
        ),
    )
