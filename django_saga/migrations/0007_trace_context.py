"""Traces: ``Saga.trace_context``, the W3C trace context of the saga's start.

Nullable with no default, so adding it is a change to the catalogue only
(PostgreSQL writes no row; SQLite adds the column without remaking the
table), and engines of the previous release keep inserting sagas without it.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('django_saga', '0006_business_keys'),
    ]

    operations = [
        migrations.AddField(
            model_name='saga',
            name='trace_context',
            field=models.JSONField(blank=True, default=None, editable=False, help_text="The W3C trace context (traceparent, tracestate) of the saga's start, when OpenTelemetry traced it: every step's span is its child.", null=True, verbose_name='trace context'),
        ),
    ]
