"""On PostgreSQL, record versions come from a real sequence: one round trip, no row churn."""

from django.db import migrations


def create_sequence(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS rps_record_version START WITH 1000")


def drop_sequence(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS rps_record_version")


class Migration(migrations.Migration):
    dependencies = [("rps_site", "0002_versiontick")]
    operations = [migrations.RunPython(create_sequence, drop_sequence)]
