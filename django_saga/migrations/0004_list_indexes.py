"""Indexes for lists paged by id and for retention.

The lists are newest first by id, filtered by state or name: ``(state, id)``
and ``(name, id)`` replace ``(state, created_at)`` and the plain name index.
``saga_finished_idx`` finds what retention purges. On PostgreSQL the new
indexes are built concurrently, so engines keep writing while a large table
is indexed; the old ones are dropped only once the new ones exist.
"""

from django.db import migrations, models

from django_saga.schema import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("django_saga", "0003_hot_updates"),
    ]

    operations = [
        AddIndexOnline(
            model_name="saga",
            index=models.Index(fields=["state", "id"], name="saga_state_id_idx"),
        ),
        AddIndexOnline(
            model_name="saga",
            index=models.Index(fields=["name", "id"], name="saga_name_id_idx"),
        ),
        AddIndexOnline(
            model_name="saga",
            index=models.Index(
                condition=models.Q(("state__in", ("completed", "compensated"))),
                fields=["completed_at"],
                name="saga_finished_idx",
            ),
        ),
        migrations.RemoveIndex(
            model_name="saga",
            name="saga_state_created_idx",
        ),
        migrations.AlterField(
            model_name="saga",
            name="name",
            field=models.CharField(max_length=200, verbose_name="name"),
        ),
    ]
