"""System checks: a bad SAGA setting is named before anything runs."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.utils.module_loading import import_string

from .conf import saga_settings
from .routers import ROUTER_PATH, router_installed


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = [
        Error(
            problem,
            hint="See the settings reference: docs/reference/settings.md in django-saga.",
            id="django_saga.E001",
        )
        for problem in saga_settings.validate()
    ]
    store = saga_settings.STORE
    if isinstance(store, str) and store:
        try:
            import_string(store)
        except ImportError as exc:
            errors.append(
                Error(
                    f"SAGA['STORE'] = {store!r} cannot be imported: {exc}",
                    hint="Use django_saga.stores.django.DjangoStore or "
                    "django_saga.stores.memory.MemoryStore.",
                    id="django_saga.E002",
                )
            )
    if saga_settings.CONSOLE_DATABASE and not router_installed():
        errors.append(
            Error(
                f"SAGA['CONSOLE_DATABASE'] = {saga_settings.CONSOLE_DATABASE!r} has no effect "
                f"without {ROUTER_PATH!r} in DATABASE_ROUTERS",
                hint="Add the router, or remove CONSOLE_DATABASE.",
                id="django_saga.E003",
            )
        )
    return errors
