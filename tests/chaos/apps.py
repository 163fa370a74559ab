from django.apps import AppConfig


class ChaosConfig(AppConfig):
    name = "tests.chaos"
    label = "chaos"
    verbose_name = "Saga chaos tests"
    default_auto_field = "django.db.models.BigAutoField"
