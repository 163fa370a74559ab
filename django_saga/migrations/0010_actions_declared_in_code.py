# The operator actions are declared in django_saga.actions: their names are no
# longer choices of the trail's column, and their permissions are made by
# migrate from the declarations (as for Django's own), not by a migration.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_saga", "0009_audit_trail_outlives_sagas"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="saga",
            options={
                "ordering": ("-created_at",),
                "verbose_name": "saga",
                "verbose_name_plural": "sagas",
            },
        ),
        migrations.AlterField(
            model_name="intervention",
            name="action",
            field=models.CharField(max_length=30, verbose_name="action"),
        ),
    ]
