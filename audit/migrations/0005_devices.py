"""The devices section's audit events (stations, staff assignments, API tokens, users and groups, CSV
exports, personal data viewed) and the hourly count of anonymous refusals."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0004_fraud_flag_actions'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AnonymousRefusalCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hour', models.DateTimeField(help_text='The start of the hour counted.', unique=True, verbose_name='hour')),
                ('count', models.PositiveIntegerField(default=0, verbose_name='refusals')),
            ],
            options={
                'verbose_name': 'anonymous refusals (per hour)',
                'verbose_name_plural': 'anonymous refusals (per hour)',
                'ordering': ['-hour'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='auditevent',
            name='audit_event_action_valid',
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('sign_in', 'signed in'), ('sign_in_failed', 'sign-in failed'), ('permission_denied', 'refused (403)'), ('dropoff_voided', 'drop-off voided'), ('stock_changed', 'stock changed'), ('catalog_changed', 'catalog changed'), ('rule_changed', 'rule changed'), ('member_searched', 'member searched'), ('mobile_revealed', 'mobile number revealed'), ('account_deleted', 'member account deleted'), ('flag_reviewed', 'anomaly flag reviewed'), ('flag_acted_on', 'anomaly flag acted on'), ('station_changed', 'station changed'), ('staff_assignment_changed', 'staff assignment changed'), ('api_token_created', 'API token created'), ('api_token_revoked', 'API token revoked'), ('user_changed', 'user changed'), ('group_changed', 'group changed'), ('csv_exported', 'CSV exported'), ('personal_data_viewed', 'personal data viewed')], max_length=30, verbose_name='action'),
        ),
        migrations.AddConstraint(
            model_name='auditevent',
            constraint=models.CheckConstraint(condition=models.Q(('action__in', ['sign_in', 'sign_in_failed', 'permission_denied', 'dropoff_voided', 'stock_changed', 'catalog_changed', 'rule_changed', 'member_searched', 'mobile_revealed', 'account_deleted', 'flag_reviewed', 'flag_acted_on', 'station_changed', 'staff_assignment_changed', 'api_token_created', 'api_token_revoked', 'user_changed', 'group_changed', 'csv_exported', 'personal_data_viewed'])), name='audit_event_action_valid'),
        ),
    ]
