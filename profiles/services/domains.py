"""Writes of domains: the row and its provisioning certificate in Vault, together or not at all.

Vault `certs/<name>` holds `CERT` (the base64 PFX) and `CERT_PASSWORD`; the database only the
non-secret fields. A PATCH that changes only the password keeps the stored PFX (upstream Q4).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DataError, IntegrityError

from audit.services import audited_record_write
from profiles import pfx
from profiles.models import Domain
from profiles.services.named_records import locked_by_name, record_with_secret_delete
from rps_site.api.versions import next_version
from rps_site.errors import Duplicate, NotFound, OperationFailed, VersionConflict
from rps_site.sensitive import Secret
from rps_site.vault import atomic_with_secrets, secret_store

CERT = "CERT"
CERT_PASSWORD = "CERT_PASSWORD"


def domain_not_found(name: str) -> NotFound:
    return NotFound(f"Domain profile {name} Not Found")


def duplicate_domain(name: str) -> Duplicate:
    return Duplicate(f"Domain {name} ID or Suffix already exists")


@dataclass(frozen=True)
class DomainInput:
    """A new domain: its provisioning certificate (base64 PFX) and that file's password."""

    name: str
    domain_suffix: str
    storage_format: str
    certificate: Secret
    password: Secret


@dataclass(frozen=True)
class DomainChanges:
    """An update: `name` finds the record; a field left None keeps its stored value (a new
    certificate without a password is opened with the stored one)."""

    name: str
    domain_suffix: str | None = None
    storage_format: str | None = None
    certificate: Secret | None = None
    password: Secret | None = None


@audited_record_write("domains", "create", Domain)
def domain_create(*, tenant_id: str, data: DomainInput) -> Domain:
    name = data.name
    certificate, password = data.certificate, data.password
    expiration = pfx.decrypt(certificate.reveal(), password.reveal()).expiration_date
    try:
        with atomic_with_secrets() as secrets:
            domain = Domain.objects.create(
                tenant_id=tenant_id,
                name=name,
                domain_suffix=data.domain_suffix,
                provisioning_cert_storage_format=data.storage_format,
                expiration_date=expiration,
                version=next_version(),
            )
            secrets.create(domain.secret_path, {CERT: certificate, CERT_PASSWORD: password})
    except IntegrityError:
        raise duplicate_domain(name) from None
    except DataError:
        raise OperationFailed(f"Operation failed: {name}") from None
    return domain


@audited_record_write("domains", "update", Domain)
def domain_update(*, tenant_id: str, data: DomainChanges, expected_version: int | None) -> Domain:
    """Apply the changes if the stored version is `expected_version` (None never is)."""
    name = data.name
    new_certificate, new_password = data.certificate, data.password
    try:
        with atomic_with_secrets() as secrets:
            domain = locked_by_name(Domain, tenant_id=tenant_id, name=name, not_found=domain_not_found)
            stored = secret_store().read(domain.secret_path) if (new_certificate or new_password) else None
            password = new_password or (stored.get(CERT_PASSWORD) if stored and new_certificate else None)
            expiration = domain.expiration_date
            if new_certificate:
                try:
                    expiration = pfx.decrypt(
                        new_certificate.reveal(), password.reveal() if password else ""
                    ).expiration_date
                except pfx.PfxRejected as rejected:
                    raise OperationFailed(str(rejected)) from None
            changes = {
                "domain_suffix": data.domain_suffix if data.domain_suffix is not None else domain.domain_suffix,
                "provisioning_cert_storage_format": (
                    data.storage_format if data.storage_format is not None else domain.provisioning_cert_storage_format
                ),
                "expiration_date": expiration,
                "version": next_version(),
            }
            if expected_version is None or not Domain.objects.filter(pk=domain.pk, version=expected_version).update(
                **changes
            ):
                raise VersionConflict(domain, domain.version)
            if new_certificate or new_password:
                kept_certificate = new_certificate or (stored.get(CERT) if stored else None)
                values = {CERT_PASSWORD: password} if password else {}
                if kept_certificate:
                    values[CERT] = kept_certificate
                secrets.replace(domain.secret_path, values)
    except IntegrityError:
        raise duplicate_domain(name) from None
    except DataError:
        raise OperationFailed(f"Operation failed: {name}") from None
    domain.refresh_from_db()
    return domain


@audited_record_write("domains", "delete", Domain)
def domain_delete(*, tenant_id: str, name: str) -> None:
    record_with_secret_delete(Domain, tenant_id=tenant_id, name=name, not_found=domain_not_found)
