from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0004_order_saga_set_after"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="report_token",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
    ]
