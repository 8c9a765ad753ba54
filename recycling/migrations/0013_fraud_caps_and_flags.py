"""Weekly and monthly caps on the earning rule (null: no cap; recycling.pricing.price_dropoff), and
the ops' decisions on anomaly flags (FlagReview: one per flag, the unique constraint).

After 0012 (member privacy), as merged from main.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('recycling', '0012_member_privacy'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='earningrule',
            name='monthly_carton_cap',
            field=models.PositiveIntegerField(blank=True, help_text='Cartons per member per calendar month that earn points; empty: no monthly cap.', null=True, verbose_name='monthly carton cap'),
        ),
        migrations.AddField(
            model_name='earningrule',
            name='weekly_carton_cap',
            field=models.PositiveIntegerField(blank=True, help_text='Cartons per member per week (Monday to Sunday) that earn points; empty: no weekly cap.', null=True, verbose_name='weekly carton cap'),
        ),
        migrations.AlterField(
            model_name='dropoff',
            name='earning_cartons',
            field=models.PositiveSmallIntegerField(help_text="Cartons within the member's caps.", verbose_name='cartons earning points'),
        ),
        migrations.CreateModel(
            name='FlagReview',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('station_day', 'station far above its city that day'), ('cap_at_stations', 'member at the daily cap at several stations'), ('staff_day', "staff user far above the city's norm that day"), ('late_record', 'recorded long after it happened')], max_length=20, verbose_name='kind')),
                ('subject', models.CharField(help_text="What the flag is about: an id and a day, or a drop-off's id.", max_length=64, verbose_name='subject')),
                ('decision', models.CharField(choices=[('reviewed', 'reviewed'), ('voided', 'drop-offs voided')], max_length=10, verbose_name='decision')),
                ('note', models.CharField(max_length=300, verbose_name='note')),
                ('voided_dropoffs', models.JSONField(blank=True, default=list, verbose_name='drop-offs voided')),
                ('decided_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='decided at')),
                ('decided_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='flag_reviews', to=settings.AUTH_USER_MODEL, verbose_name='decided by')),
            ],
            options={
                'verbose_name': 'flag review',
                'verbose_name_plural': 'flag reviews',
                'ordering': ['-decided_at'],
                'constraints': [models.UniqueConstraint(fields=('kind', 'subject'), name='flag_review_once'), models.CheckConstraint(condition=models.Q(('kind__in', ['station_day', 'cap_at_stations', 'staff_day', 'late_record'])), name='flag_review_kind_valid'), models.CheckConstraint(condition=models.Q(('decision__in', ['reviewed', 'voided'])), name='flag_review_decision_valid'), models.CheckConstraint(condition=models.Q(('note', ''), _negated=True), name='flag_review_note_not_empty')],
            },
        ),
    ]
