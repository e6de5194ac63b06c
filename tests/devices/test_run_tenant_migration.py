"""Runs from before devices/migrations/0005 get their device's tenant: a bound device's runs its
tenant, an unbound device's none (as the dashboard counted them through the device)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.devices.test_trust_migration import migrate

BEFORE = [("devices", "0004_run_step_not_applicable_outcome")]
AFTER = [("devices", "0005_dashboard_indexes_and_run_tenant")]


@pytest.mark.django_db(transaction=True)
def test_existing_runs_take_their_devices_tenant() -> None:
    old_apps = migrate(BEFORE).loader.project_state(BEFORE).apps
    device, run = old_apps.get_model("devices", "Device"), old_apps.get_model("devices", "ProvisioningRun")
    try:
        bound = device.objects.create(guid="55555555-5555-5555-5555-555555555555", tenant_id="acme")
        default = device.objects.create(guid="66666666-6666-6666-6666-666666666666", tenant_id="")
        unbound = device.objects.create(guid="77777777-7777-7777-7777-777777777777", tenant_id=None)
        for owner in (bound, bound, default, unbound):
            run.objects.create(device=owner, action="activate", claimed_tenant_id="acme")
        new_run = migrate(AFTER).loader.project_state(AFTER).apps.get_model("devices", "ProvisioningRun")
        tenants = sorted((row.device.guid[0], row.tenant_id) for row in new_run.objects.select_related("device"))
        assert tenants == [("5", "acme"), ("5", "acme"), ("6", ""), ("7", None)]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
