"""A run carries its device's tenant, which the dashboard reads without the devices table: NULL
while the device is unbound, its tenant once bound (earlier attempts included), and the target
tenant after a move."""

from __future__ import annotations

import uuid

import pytest

from devices.models import ProvisioningRun
from devices.services import admin_actions, runs
from devices.services.runs import DeviceReport, VerifiedChange

pytestmark = pytest.mark.django_db


def run_tenants(guid: str) -> list[str | None]:
    return list(ProvisioningRun.objects.filter(device__guid=guid).order_by("id").values_list("tenant_id", flat=True))


def test_runs_of_an_unbound_device_become_its_tenants_when_an_activation_binds_it(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MPS_URL = ""
    guid = str(uuid.uuid4())
    refused = runs.run_start(guid=guid, tenant_id="acme", action="activate").run
    runs.run_finish(run=refused, succeeded=False)
    assert run_tenants(guid) == [None]

    activation = runs.run_start(guid=guid, tenant_id="acme", action="activate").run
    assert activation.tenant_id is None
    runs.run_finish(
        run=activation,
        succeeded=True,
        change=VerifiedChange(report=DeviceReport(), status="activated", bind_tenant_id="acme"),
    )
    assert run_tenants(guid) == ["acme", "acme"]

    later = runs.run_start(guid=guid, tenant_id="acme", action="maintenance").run
    assert later.tenant_id == "acme"

    admin_actions.device_move(tenant_id="acme", guid=guid, target_tenant_id="globex")
    assert run_tenants(guid) == ["globex", "globex", "globex"]


def test_a_claim_under_another_tenant_does_not_give_it_the_runs(settings) -> None:  # type: ignore[no-untyped-def]
    guid = str(uuid.uuid4())
    first = runs.run_start(guid=guid, tenant_id="acme", action="activate").run
    runs.run_finish(
        run=first,
        succeeded=True,
        change=VerifiedChange(report=DeviceReport(), status="activated", bind_tenant_id="acme"),
    )
    # A verified run naming another tenant never rebinds the device (its tenant is fixed once bound).
    other = runs.run_start(guid=guid, tenant_id="globex", action="activate").run
    assert other.tenant_id == "acme"
    runs.run_finish(run=other, succeeded=True, change=VerifiedChange(report=DeviceReport(), bind_tenant_id="globex"))
    assert run_tenants(guid) == ["acme", "acme"]
