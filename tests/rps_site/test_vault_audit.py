"""`manage.py rps_vault_audit`: secrets without a record and records without their secret, per
tenant, against a fresh real OpenBao; `--repair` fixes only what is safe."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from devices.models import Device
from rps_site.models import PendingSecretDestroy
from rps_site.openbao_dev import DevVault, start_dev_vault
from rps_site.sensitive import Secret
from rps_site.vault import SecretStore, cira_config_path, profile_passwords_path, secret_store
from tests.profiles.api_suite import client_for
from tests.profiles.factories import cira_body

pytestmark = pytest.mark.django_db(transaction=True)

STRONG = "Str0ng!Pass"
GUID = "4c4c4544-0050-4c10-8038-b8c04f564433"
OTHER_GUID = "4c4c4544-0050-4c10-8038-b8c04f564434"


@pytest.fixture
def vault(settings) -> Iterator[SecretStore]:  # type: ignore[no-untyped-def]
    """A Vault of its own: the audit reads everything in it."""
    fresh: DevVault = start_dev_vault()
    settings.VAULT_ADDR, settings.VAULT_TOKEN = fresh.addr, fresh.rps_token()
    secret_store.cache_clear()
    yield secret_store()
    secret_store.cache_clear()
    fresh.stop()


def run_audit(*arguments: str) -> tuple[str, bool]:
    """What the command printed, and whether it exited 0."""
    out = StringIO()
    try:
        call_command("rps_vault_audit", *arguments, stdout=out)
    except CommandError as error:
        out.write(f"{error}\n")
        return out.getvalue(), False
    return out.getvalue(), True


def test_a_consistent_store_is_clean(vault: SecretStore) -> None:
    api = client_for("")
    assert api.post("/api/v1/admin/ciraconfigs", cira_body("c1"), format="json").status_code == 201
    output, clean = run_audit()
    assert clean, output
    assert "agree" in output


def test_findings_are_listed_per_tenant_and_only_safe_ones_repaired(vault: SecretStore) -> None:
    acme = client_for("acme")
    body = {"profileName": "p1", "activation": "ccmactivate", "amtPassword": STRONG, "dhcpEnabled": True}
    assert acme.post("/api/v1/admin/profiles", body, format="json").status_code == 201
    vault.destroy(profile_passwords_path("acme", "p1"))  # a record without its secret
    orphan = cira_config_path("", "lost")  # a write whose answer was lost
    vault.create(orphan, {"MPS_PASSWORD": Secret("x")})
    pending = cira_config_path("acme", "deleted")  # a delete whose destroy Vault never confirmed
    vault.create(pending, {"MPS_PASSWORD": Secret("y")})
    PendingSecretDestroy.objects.create(path=pending)
    vault.create(f"devices/{GUID}", {"AMT_PASSWORD": Secret("device")})  # no device record
    Device.objects.create(guid=OTHER_GUID, tenant_id="acme", status=Device.Status.ACTIVATED)  # no secret

    output, clean = run_audit()
    assert not clean
    assert output.splitlines() == [
        'tenant "":',
        "  secret without a record: CIRAConfigs/lost [younger than --min-age: a create may still be committing]",
        'tenant "acme":',
        f"  activated device without its secret: devices/{OTHER_GUID} (device {OTHER_GUID}) "
        "[its passwords are lost: AMT needs unprovisioning on the device itself]",
        "  destroy not confirmed by Vault: tenants/acme/CIRAConfigs/deleted [--repair destroys it]",
        '  record without its secret: tenants/acme/profiles/p1 (AMT profile "p1") '
        "[its value is lost: set it again through the API or the portal]",
        "device secrets without a tenant:",
        f"  device secret without a device record: devices/{GUID} "
        "[younger than --min-age: a create may still be committing]",
        "5 of 5 finding(s) left",
    ]
    # A dry run changed nothing.
    assert vault.read(orphan) is not None and vault.read(pending) is not None

    output, clean = run_audit("--repair", "--min-age", "0")
    assert not clean
    assert vault.read(orphan) is None and vault.read(pending) is None
    assert not PendingSecretDestroy.objects.exists()
    assert vault.read(f"devices/{GUID}") is not None, "a device secret needs the explicit flag"
    assert "[--repair --destroy-device-secrets destroys it; a device may still use it]" in output
    assert output.count("[repaired]") == 2

    output, clean = run_audit("--repair", "--destroy-device-secrets", "--min-age", "0")
    assert vault.read(f"devices/{GUID}") is None
    assert "2 of 3 finding(s) left" in output  # what only an operator can fix remains


def test_a_secret_whose_record_appears_meanwhile_is_not_destroyed(vault: SecretStore) -> None:
    """Repair re-checks under the path's lock: a record created since the listing owns it."""
    from datetime import timedelta

    from rps_site.vault_audit import audit, repair

    path = cira_config_path("", "racing")
    vault.create(path, {"MPS_PASSWORD": Secret("x")})
    findings = audit(vault, min_age=timedelta(0))
    assert [finding.path for finding in findings] == [path]
    api = client_for("")
    assert api.post("/api/v1/admin/ciraconfigs", cira_body("racing"), format="json").status_code == 201
    repair(vault, findings, destroy_device_secrets=False, min_age=timedelta(0))
    assert not findings[0].repaired
    stored = vault.read(path)
    assert stored is not None and stored.values["MPS_PASSWORD"].reveal() == cira_body("racing")["password"]


def test_destroy_device_secrets_needs_repair() -> None:
    with pytest.raises(CommandError, match="--destroy-device-secrets needs --repair"):
        call_command("rps_vault_audit", "--destroy-device-secrets")
