from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "benchmarks"
    label = "saga_bench"
    verbose_name = "django-saga benchmark"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import probe

        probe.install()
