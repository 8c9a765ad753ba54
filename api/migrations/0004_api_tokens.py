"""API tokens of their own (api.models.ApiToken: hashed, named, per device, with an expiry), in
place of DRF's authtoken, whose table this migration converts and drops.

Each authtoken key (40 hex characters) becomes an ApiToken with the key's prefix and SHA-256
digest, so the devices that hold one keep working with it unchanged; it is named "converted",
keeps its creation time and expires GREENBOX_API_TOKEN_DAYS after this migration. The key itself
is not kept. rest_framework.authtoken is no longer installed, so its table is read with SQL when
it exists (a database made before this release) and dropped after. Going back keeps no tokens:
a hashed token cannot be turned back into a key, so devices need new ones.
"""

import hashlib
from datetime import timedelta

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

PREFIX_LENGTH = 10  # api.models.PREFIX_LENGTH, as it is in this migration


def convert_authtoken_keys(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("api", "ApiToken")
    expires_at = timezone.now() + timedelta(days=settings.GREENBOX_API_TOKEN_DAYS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token ORDER BY created, key")
        rows = cursor.fetchall()
    ApiToken.objects.bulk_create(
        ApiToken(
            prefix=key[:PREFIX_LENGTH],
            digest=hashlib.sha256(key.encode()).hexdigest(),
            name="converted",
            user_id=user_id,
            created_at=created,
            expires_at=max(expires_at, created + timedelta(days=1)),
        )
        for key, user_id, created in rows
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE authtoken_token")
        cursor.execute("DELETE FROM django_migrations WHERE app = 'authtoken'")


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0003_one_idempotency_mechanism'),
        ('stations', '0003_station_issuance_account'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('prefix', models.CharField(help_text="The token's first characters, to tell it.", max_length=10, unique=True, verbose_name='prefix')),
                ('digest', models.CharField(help_text='SHA-256 of the token, in hex.', max_length=64, verbose_name='digest')),
                ('name', models.CharField(help_text='Which device or partner system uses it.', max_length=100, verbose_name='name')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created at')),
                ('expires_at', models.DateTimeField(verbose_name='expires at')),
                ('last_used_at', models.DateTimeField(blank=True, help_text='Updated at most once a minute.', null=True, verbose_name='last used at')),
                ('revoked_at', models.DateTimeField(blank=True, null=True, verbose_name='revoked at')),
                ('station', models.ForeignKey(blank=True, help_text='The station whose device uses it; empty for a partner system.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='api_tokens', to='stations.station', verbose_name='station')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'API token',
                'verbose_name_plural': 'API tokens',
                'ordering': ['-created_at', '-pk'],
                'constraints': [models.CheckConstraint(condition=models.Q(('expires_at__gt', models.F('created_at'))), name='api_token_expiry'), models.CheckConstraint(condition=models.Q(('digest__regex', '^[0-9a-f]{64}$')), name='api_token_digest_is_sha256')],
            },
        ),
        migrations.RunPython(convert_authtoken_keys, migrations.RunPython.noop),
    ]
