"""Vault and the database side by side: secrets without a record, records without their secret.

What `manage.py rps_vault_audit` reports, per tenant, and what `--repair` may fix:
- a destroy that committed but Vault never confirmed (`PendingSecretDestroy`): sent again;
- a resource secret no record owns (a write whose answer was lost, an undo that failed), older
  than the grace period (a create still running owns a younger one): destroyed;
- a record whose secret it cannot work without, and an activated device without its secret:
  reported only, since nothing here can know the lost value;
- a device secret without a device record (devices activated before rps-django kept a registry,
  or by another RPS sharing the Vault): reported, and destroyed only with an explicit extra flag,
  because a device may still use that password.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

from django.db import transaction
from django.utils import timezone

from devices.models import Device
from profiles.models import CiraConfig, Domain, Ieee8021xConfig, Profile, WirelessConfig
from profiles.services.profiles import profile_required_secret_paths
from rps_site.models import PendingSecretDestroy
from rps_site.vault import SecretStore, VaultUnavailable, destroy_pending, lock_secret_path

RESOURCE_FOLDERS = ("certs", "profiles", "TLS", "CIRAConfigs", "Wireless", "IEEE8021xConfigs")
REPAIR = "--repair destroys it"
REPAIR_DEVICE = "--repair --destroy-device-secrets destroys it; a device may still use it"
TOO_YOUNG = "younger than --min-age: a create may still be committing"
LOST = "its value is lost: set it again through the API or the portal"
DEVICE_LOST = "its passwords are lost: AMT needs unprovisioning on the device itself"


class Problem:
    PENDING_DESTROY = "destroy not confirmed by Vault"
    SECRET_WITHOUT_RECORD = "secret without a record"
    RECORD_WITHOUT_SECRET = "record without its secret"
    DEVICE_SECRET_WITHOUT_DEVICE = "device secret without a device record"
    DEVICE_WITHOUT_SECRET = "activated device without its secret"


@dataclass
class Finding:
    section: str | None  # a tenant id; None for device secrets no device record places in a tenant
    problem: str
    path: str
    owner: str = ""  # the record concerned, e.g. `domain "d1"`
    repair: str = ""  # what repairs it, e.g. "--repair destroys it"; empty: see `note`
    note: str = ""  # why nothing repairs it
    repaired: bool = False

    def advice(self) -> str:
        return "repaired" if self.repaired else self.repair or self.note


def tenant_of(path: str) -> str:
    if path.startswith("tenants/"):
        return unquote(path.split("/", 2)[1])
    return ""


def listed_secrets(store: SecretStore, folder: str) -> Iterator[str]:
    """The secrets (not sub-folders) directly in `folder` (which ends with `/`)."""
    for key in store.list_keys(folder):
        if not key.endswith("/"):
            yield f"{folder}{key}"


def resource_secrets_in_vault(store: SecretStore) -> set[str]:
    bases = [""] + [f"tenants/{key}" for key in store.list_keys("tenants/") if key.endswith("/")]
    return {path for base in bases for folder in RESOURCE_FOLDERS for path in listed_secrets(store, f"{base}{folder}/")}


def owned_resource_paths() -> dict[str, str]:
    """Every path a stored record may keep a secret at, with the record's description."""
    owned: dict[str, str] = {}
    for model, kind in (
        (Domain, "domain"),
        (CiraConfig, "CIRA config"),
        (WirelessConfig, "wireless config"),
        (Ieee8021xConfig, "802.1X config"),
    ):
        for record in model.objects.only("tenant_id", "name"):
            owned[record.secret_path] = f'{kind} "{record.name}"'
    for profile in Profile.objects.only("tenant_id", "name"):
        owned[profile.secret_path] = owned[profile.tls_secret_path] = f'AMT profile "{profile.name}"'
    return owned


def required_resource_paths() -> dict[str, str]:
    required = {domain.secret_path: f'domain "{domain.name}"' for domain in Domain.objects.only("tenant_id", "name")}
    for profile in Profile.objects.all():
        for path in profile_required_secret_paths(profile):
            required[path] = f'AMT profile "{profile.name}"'
    return required


def audit(store: SecretStore, *, min_age: timedelta) -> list[Finding]:
    """Everything out of step between Vault and the database, sorted by section and path."""
    in_vault = resource_secrets_in_vault(store)
    pending = set(PendingSecretDestroy.objects.values_list("path", flat=True))
    owned = owned_resource_paths()
    findings = [Finding(tenant_of(path), Problem.PENDING_DESTROY, path, repair=REPAIR) for path in sorted(pending)]
    old_enough = timezone.now() - min_age
    for path in sorted(in_vault - owned.keys() - pending):
        finding = Finding(tenant_of(path), Problem.SECRET_WITHOUT_RECORD, path)
        if _older_than(store, path, old_enough):
            finding.repair = REPAIR
        else:
            finding.note = TOO_YOUNG
        findings.append(finding)
    for path, owner in sorted(required_resource_paths().items()):
        if path not in in_vault:
            findings.append(Finding(tenant_of(path), Problem.RECORD_WITHOUT_SECRET, path, owner=owner, note=LOST))
    findings += _device_findings(store, old_enough)
    return sorted(findings, key=lambda finding: (finding.section is None, finding.section or "", finding.path))


def _device_findings(store: SecretStore, old_enough: datetime) -> list[Finding]:
    device_secrets = set(listed_secrets(store, "devices/"))
    devices = {device.secret_path: device for device in Device.objects.only("guid", "tenant_id", "status")}
    findings = []
    for path in sorted(device_secrets - devices.keys()):
        finding = Finding(None, Problem.DEVICE_SECRET_WITHOUT_DEVICE, path)
        if _older_than(store, path, old_enough):
            finding.repair = REPAIR_DEVICE
        else:
            finding.note = TOO_YOUNG
        findings.append(finding)
    for path, device in sorted(devices.items()):
        if device.status == Device.Status.ACTIVATED and path not in device_secrets:
            owner = f"device {device.guid}"
            findings.append(
                Finding(device.tenant_id, Problem.DEVICE_WITHOUT_SECRET, path, owner=owner, note=DEVICE_LOST)
            )
    return findings


def _older_than(store: SecretStore, path: str, moment: datetime) -> bool:
    updated = store.updated_time(path)
    return updated is not None and datetime.fromisoformat(updated) < moment


def repair(
    store: SecretStore, findings: Iterable[Finding], *, destroy_device_secrets: bool, min_age: timedelta
) -> None:
    """Do what each finding's `repair` says, re-checking under the path's lock that it still holds."""
    for finding in findings:
        if finding.problem == Problem.PENDING_DESTROY:
            finding.repaired = destroy_pending(store, finding.path)
        elif finding.problem == Problem.SECRET_WITHOUT_RECORD and finding.repair:
            finding.repaired = _destroy_unowned(store, finding.path, min_age, owned=owned_resource_paths)
        elif finding.problem == Problem.DEVICE_SECRET_WITHOUT_DEVICE and finding.repair and destroy_device_secrets:
            finding.repaired = _destroy_unowned(store, finding.path, min_age, owned=_device_paths)


def _device_paths() -> dict[str, str]:
    return {device.secret_path: str(device) for device in Device.objects.only("guid")}


def _destroy_unowned(
    store: SecretStore, path: str, min_age: timedelta, *, owned: Callable[[], Mapping[str, str]]
) -> bool:
    """Destroy `path` if, under its lock (creates hold it until they commit), no record owns it
    and it is still older than the grace period."""
    try:
        with transaction.atomic():
            lock_secret_path(path)
            if path in owned() or not _older_than(store, path, timezone.now() - min_age):
                return False
            store.destroy(path)
    except VaultUnavailable:
        return False
    return True
