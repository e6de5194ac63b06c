from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0003_device_trust_on_first_use"),
    ]

    operations = [
        migrations.AlterField(
            model_name="runstep",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("success", "Success"),
                    ("failure", "Failure"),
                    ("skipped", "Skipped"),
                    ("not_applicable", "Not applicable"),
                ],
                max_length=16,
            ),
        ),
    ]
