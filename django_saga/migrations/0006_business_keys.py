"""Business keys: ``Saga.key``, one unfinished saga per (name, key), and find by key.

The column has a database default, so adding it rewrites nothing and engines
of the previous release keep inserting. Both indexes are partial (sagas
without a key are not in them) and, on PostgreSQL, built concurrently, which
is why the migration is not atomic.
"""

from django.db import migrations, models

from django_saga.schema import AddIndexOnline, AddUniqueIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('django_saga', '0005_repair'),
    ]

    operations = [
        migrations.AddField(
            model_name='saga',
            name='key',
            field=models.CharField(blank=True, db_default='', default='', help_text='The business key (an order number, say): at most one unfinished saga of a name has it.', max_length=200, verbose_name='key'),
        ),
        AddIndexOnline(
            model_name='saga',
            index=models.Index(condition=models.Q(('key', ''), _negated=True), fields=['key', 'name', 'id'], name='saga_key_idx'),
        ),
        AddUniqueIndexOnline(
            model_name='saga',
            constraint=models.UniqueConstraint(condition=models.Q(models.Q(('key', ''), _negated=True), models.Q(('state__in', ('completed', 'compensated')), _negated=True)), fields=('name', 'key'), name='saga_active_key_unique'),
        ),
    ]
