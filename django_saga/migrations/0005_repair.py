"""Repair: pivot steps, the halted state, operator permissions, the audit trail.

``halted`` joins the states the check constraint allows. On PostgreSQL the
check is replaced without blocking engines (``ReplaceCheckOnline``), which is
why the migration is not atomic; ``pivot`` has a database default, so engines
of the previous release can still insert steps during the upgrade.
"""

import django.core.serializers.json
import django.db.models.deletion
import django_saga.clock
import django_saga.models
from django.db import migrations, models

from django_saga.schema import ReplaceCheckOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('django_saga', '0004_list_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='Intervention',
            fields=[
                ('id', models.CharField(default=django_saga.models.new_id, editable=False, max_length=26, primary_key=True, serialize=False, verbose_name='id')),
                ('action', models.CharField(choices=[('compensate', 'compensate'), ('retry_compensation', 'retry compensation'), ('retry_step', 'retry step'), ('skip_step', 'skip step')], max_length=30, verbose_name='action')),
                ('step', models.CharField(blank=True, default='', help_text="The step's name.", max_length=200, verbose_name='step')),
                ('actor', models.CharField(help_text="Who asked: a user name, or the command line's user.", max_length=200, verbose_name='by')),
                ('reason', models.TextField(blank=True, default='', verbose_name='reason')),
                ('details', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder, help_text="The saga's state before, and any input or output the operator gave.", verbose_name='details')),
                ('batch', models.CharField(blank=True, default='', help_text='The bulk re-drive this action was part of, if any.', max_length=26, verbose_name='re-drive')),
                ('at', models.DateTimeField(default=django_saga.clock.now, verbose_name='at')),
            ],
            options={
                'verbose_name': 'intervention',
                'verbose_name_plural': 'interventions',
                'ordering': ('id',),
            },
        ),
        migrations.AlterModelOptions(
            name='saga',
            options={'ordering': ('-created_at',), 'permissions': [('compensate_saga', 'Can compensate a saga'), ('retry_saga_compensation', "Can retry a saga's failed compensation"), ('retry_saga_step', 'Can retry a failed step of a saga'), ('skip_saga_step', 'Can skip a failed or waiting step of a saga'), ('redrive_sagas', 'Can re-drive failed sagas in bulk')], 'verbose_name': 'saga', 'verbose_name_plural': 'sagas'},
        ),
        migrations.AddField(
            model_name='sagastep',
            name='pivot',
            field=models.BooleanField(db_default=False, default=False, help_text="The saga's point of no return: once it completes, later failures are retried forward, never compensated.", verbose_name='pivot'),
        ),
        migrations.AlterField(
            model_name='saga',
            name='state',
            field=models.CharField(choices=[('started', 'started'), ('completed', 'completed'), ('failed', 'failed'), ('compensating', 'compensating'), ('compensated', 'compensated'), ('compensation_failed', 'compensation failed'), ('halted', 'halted (an operator must act)')], default='started', max_length=20, verbose_name='state'),
        ),
        ReplaceCheckOnline(
            model_name='saga',
            constraint=models.CheckConstraint(condition=models.Q(('state__in', ['started', 'completed', 'failed', 'compensating', 'compensated', 'compensation_failed', 'halted'])), name='saga_state_valid'),
        ),
        migrations.AddField(
            model_name='intervention',
            name='saga',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='interventions', to='django_saga.saga', verbose_name='saga'),
        ),
        migrations.AddIndex(
            model_name='intervention',
            index=models.Index(condition=models.Q(('batch', ''), _negated=True), fields=['batch', 'saga'], name='saga_intervention_batch_idx'),
        ),
    ]
