"""Indexes for lists paged by id and for retention.

The lists are newest first by id, filtered by state, name or both:
``(state, id)``, ``(name, id)`` and ``(state, name, id)`` replace
``(state, created_at)`` and the plain name index.
``saga_finished_idx`` finds what retention purges. On PostgreSQL the new
indexes are built concurrently, so engines keep writing while a large table
is indexed; the old ones are dropped only once the new ones exist.

Retention deletes finished sagas every day: autovacuum must visit the saga
and step tables after a few percent of their rows changed, not the default
20%, or they bloat between its visits (see "Keep history in check").
"""

from django.db import migrations, models

from django_saga.schema import AddIndexOnline

#: Autovacuum thresholds, as fractions of the table, for the tables retention purges.
AUTOVACUUM = {"Saga": 0.02, "SagaStep": 0.02}


def _autovacuum(apps, schema_editor, reset):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, fraction in AUTOVACUUM.items():
        table = schema_editor.quote_name(apps.get_model("django_saga", name)._meta.db_table)
        keys = ("autovacuum_vacuum_scale_factor", "autovacuum_analyze_scale_factor")
        if reset:
            schema_editor.execute(f"ALTER TABLE {table} RESET ({', '.join(keys)})")
        else:
            values = ", ".join(f"{key} = {fraction}" for key in keys)
            schema_editor.execute(f"ALTER TABLE {table} SET ({values})")


def vacuum_often(apps, schema_editor):
    _autovacuum(apps, schema_editor, reset=False)


def vacuum_by_default(apps, schema_editor):
    _autovacuum(apps, schema_editor, reset=True)


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
            index=models.Index(fields=["state", "name", "id"], name="saga_state_name_id_idx"),
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
        migrations.RunPython(vacuum_often, vacuum_by_default, elidable=False),
    ]
