"""The registry rows from before trust on first use: a device that never completed an activation
was recorded under the tenant its request named, unverified, and becomes unbound; an activated
device keeps its tenant and its secret counts as in use."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("devices", "0002_step_recorded_at_when_it_ended")]
AFTER = [("devices", "0003_device_trust_on_first_use")]


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_only_what_was_activated_stays_bound() -> None:
    old = migrate(BEFORE).loader.project_state(BEFORE).apps.get_model("devices", "Device")
    rows = {
        "activated": ("11111111-1111-1111-1111-111111111111", "acme"),
        "deactivated": ("22222222-2222-2222-2222-222222222222", "acme"),
        "failed": ("33333333-3333-3333-3333-333333333333", "acme"),
        "in_progress": ("44444444-4444-4444-4444-444444444444", ""),
    }
    try:
        for status, (guid, tenant) in rows.items():
            old.objects.create(guid=guid, tenant_id=tenant, status=status)
        new = migrate(AFTER).loader.project_state(AFTER).apps.get_model("devices", "Device")
        after = {device.status: (device.tenant_id, device.credential) for device in new.objects.all()}
        assert after == {
            "activated": ("acme", "confirmed"),
            "deactivated": ("acme", "unknown"),
            "failed": (None, "unknown"),
            "in_progress": (None, "unknown"),
        }
    finally:
        migrate(BEFORE)  # the way back works too (unbound rows return to the default tenant)
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
