# The anonymous refusals' hourly count becomes one kind of HourlyCount; throttles that fail open
# are the second. Existing rows keep their counts as anonymous refusals.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_devices"),
    ]

    operations = [
        migrations.RenameModel("AnonymousRefusalCount", "HourlyCount"),
        migrations.AddField(
            model_name="hourlycount",
            name="kind",
            field=models.CharField(
                choices=[
                    ("anonymous_refusal", "anonymous refusals (HTTP 403)"),
                    ("throttle_failed_open", "API requests not throttled (Redis unavailable)"),
                ],
                default="anonymous_refusal",
                max_length=32,
                verbose_name="kind",
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="hourlycount",
            name="hour",
            field=models.DateTimeField(help_text="The start of the hour counted.", verbose_name="hour"),
        ),
        migrations.AlterField(
            model_name="hourlycount",
            name="count",
            field=models.PositiveIntegerField(default=0, verbose_name="count"),
        ),
        migrations.AlterModelOptions(
            name="hourlycount",
            options={"ordering": ["-hour", "kind"], "verbose_name": "hourly count", "verbose_name_plural": "hourly counts"},
        ),
        migrations.AddConstraint(
            model_name="hourlycount",
            constraint=models.UniqueConstraint(fields=("kind", "hour"), name="hourly_count_one_row_per_kind_and_hour"),
        ),
    ]
