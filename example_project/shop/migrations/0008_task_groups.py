"""The groups the shop's task steps are offered to."""

from django.db import migrations

GROUPS = ("clerks", "refund-managers", "shop-directors")


def make_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in GROUPS:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0007_order_lines_and_pickups"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(make_groups, migrations.RunPython.noop)]
