from django.apps import AppConfig


class DjangoSagaConfig(AppConfig):
    name = "django_saga"
    verbose_name = "Sagas"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from . import checks  # noqa: F401  (registers the system checks)

        # Every installed app's sagas.py registers its handlers on import.
        autodiscover_modules("sagas")
