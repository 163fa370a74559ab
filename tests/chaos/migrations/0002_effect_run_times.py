from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("chaos", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="effect",
            name="key",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AddField(
            model_name="effect",
            name="began",
            field=models.FloatField(null=True),
        ),
        migrations.AddField(
            model_name="effect",
            name="ended",
            field=models.FloatField(null=True),
        ),
    ]
