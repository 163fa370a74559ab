"""Orders of several lines, each reserved on its own, and pickups booked for
their parcels. An order's product and quantity become its first line."""

from django.db import migrations, models
import django.db.models.deletion


def lines_from_orders(apps, schema_editor):
    Order = apps.get_model("shop", "Order")
    OrderLine = apps.get_model("shop", "OrderLine")
    Reservation = apps.get_model("shop", "Reservation")
    for order in Order.objects.all():
        line = OrderLine.objects.create(
            order=order, product_id=order.product_id, quantity=order.quantity
        )
        Reservation.objects.filter(order=order).update(line=line)


class Migration(migrations.Migration):

    dependencies = [
        ("shop", "0006_reminders_and_stock_reports"),
    ]

    operations = [
        migrations.CreateModel(
            name="OrderLine",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("quantity", models.PositiveIntegerField()),
                ("order", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="lines", to="shop.order")),
                ("product", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, to="shop.product")),
            ],
        ),
        migrations.AddField(
            model_name="reservation",
            name="line",
            field=models.OneToOneField(null=True, on_delete=django.db.models.deletion.CASCADE, to="shop.orderline"),
        ),
        migrations.RunPython(lines_from_orders, migrations.RunPython.noop),
        migrations.RemoveField(model_name="reservation", name="order"),
        migrations.AlterField(
            model_name="reservation",
            name="line",
            field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, to="shop.orderline"),
        ),
        migrations.RemoveField(model_name="order", name="product"),
        migrations.RemoveField(model_name="order", name="quantity"),
        migrations.CreateModel(
            name="Pickup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("parcel", models.PositiveIntegerField()),
                ("units", models.PositiveIntegerField()),
                ("status", models.CharField(choices=[("booked", "Booked"), ("cancelled", "Cancelled")], default="booked", max_length=20)),
                ("order", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="pickups", to="shop.order")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("order", "parcel"), name="shop_pickup_per_parcel")],
            },
        ),
    ]
