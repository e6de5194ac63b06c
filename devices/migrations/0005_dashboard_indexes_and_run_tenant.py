"""The portal dashboard's reads, indexed (bench/dashboard_bench.py, bench/RESULTS.md).

A run carries its device's tenant (NULL while the device is unbound), kept by the services that
bind and move devices, so a tenant's activation counts and latest failures read that tenant's
index entries only, never the devices table nor other tenants' runs."""

from django.db import migrations, models

BACKFILL = """
UPDATE devices_provisioningrun AS run SET tenant_id = device.tenant_id
FROM devices_device AS device WHERE device.id = run.device_id AND device.tenant_id IS NOT NULL
"""


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0004_run_step_not_applicable_outcome"),
    ]

    operations = [
        migrations.AddField(
            model_name="provisioningrun",
            name="tenant_id",
            field=models.CharField(blank=True, max_length=36, null=True),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop, elidable=True),
        migrations.AddIndex(
            model_name="device",
            index=models.Index(fields=["tenant_id", "control_mode", "status"], name="device_tenant_state"),
        ),
        migrations.AddIndex(
            model_name="provisioningrun",
            index=models.Index(
                fields=["tenant_id", "action", "started_at"], include=["outcome"], name="run_tenant_action_started"
            ),
        ),
        migrations.AddIndex(
            model_name="provisioningrun",
            index=models.Index(
                models.F("tenant_id"),
                models.F("started_at").desc(),
                models.F("id").desc(),
                condition=models.Q(outcome="failure"),
                name="run_tenant_failures_latest",
            ),
        ),
    ]
