from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0005_dashboard_indexes_and_run_tenant"),
    ]

    operations = [
        migrations.AddField(
            model_name="provisioningrun",
            name="worker",
            field=models.CharField(blank=True, default="", max_length=96),
        ),
        migrations.AddField(
            model_name="provisioningrun",
            name="secret_written_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="provisioningrun",
            index=models.Index(
                condition=models.Q(("outcome", "in_progress")), fields=["worker"], name="run_in_progress_worker"
            ),
        ),
    ]
