"""The audit actions of the ops' decisions on anomaly flags (recycling.reviews)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_privacy'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='auditevent',
            name='audit_event_action_valid',
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('sign_in', 'signed in'), ('sign_in_failed', 'sign-in failed'), ('permission_denied', 'refused (403)'), ('dropoff_voided', 'drop-off voided'), ('stock_changed', 'stock changed'), ('catalog_changed', 'catalog changed'), ('rule_changed', 'rule changed'), ('member_searched', 'member searched'), ('mobile_revealed', 'mobile number revealed'), ('account_deleted', 'member account deleted'), ('flag_reviewed', 'anomaly flag reviewed'), ('flag_acted_on', 'anomaly flag acted on')], max_length=30, verbose_name='action'),
        ),
        migrations.AddConstraint(
            model_name='auditevent',
            constraint=models.CheckConstraint(condition=models.Q(('action__in', ['sign_in', 'sign_in_failed', 'permission_denied', 'dropoff_voided', 'stock_changed', 'catalog_changed', 'rule_changed', 'member_searched', 'mobile_revealed', 'account_deleted', 'flag_reviewed', 'flag_acted_on'])), name='audit_event_action_valid'),
        ),
    ]
