"""API tokens for the console's JSON API (``ApiToken``): a table of their own,
holding a hash of each token, never the token. No existing table changes.
"""

import django.db.models.deletion
import django_saga.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('django_saga', '0007_trace_context'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('id', models.CharField(default=django_saga.models.new_id, editable=False, max_length=26, primary_key=True, serialize=False, verbose_name='id')),
                ('name', models.CharField(help_text="What the token is for, e.g. 'deploy pipeline'.", max_length=100, verbose_name='name')),
                ('prefix', models.CharField(editable=False, help_text='The start of the token, to tell tokens apart; not a secret.', max_length=16, unique=True, verbose_name='prefix')),
                ('digest', models.CharField(editable=False, max_length=64, verbose_name='SHA-256 of the token')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('last_used_at', models.DateTimeField(blank=True, editable=False, help_text='When a request last used it (to the minute).', null=True, verbose_name='last used')),
                ('revoked_at', models.DateTimeField(blank=True, editable=False, help_text='When it was revoked: from then on every request with it is refused.', null=True, verbose_name='revoked')),
                ('user', models.ForeignKey(help_text="Requests with the token act as this user, with this user's permissions.", on_delete=django.db.models.deletion.CASCADE, related_name='saga_api_tokens', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'API token',
                'verbose_name_plural': 'API tokens',
                'ordering': ('-id',),
            },
        ),
    ]
