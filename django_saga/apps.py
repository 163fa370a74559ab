from django.apps import AppConfig


class DjangoSagaConfig(AppConfig):
    name = "django_saga"
    verbose_name = "Sagas"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps
        from django.db.models.signals import post_migrate
        from django.utils.module_loading import autodiscover_modules

        from . import checks  # noqa: F401  (registers the system checks)
        from .actions.permissions import create_permissions

        if apps.is_installed("django.contrib.auth"):
            # The actions' permissions, declared with them (not in a migration).
            post_migrate.connect(create_permissions, sender=self)

        # Every installed app's sagas.py registers its handlers on import.
        autodiscover_modules("sagas")
