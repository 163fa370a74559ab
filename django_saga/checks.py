"""System checks: a bad SAGA setting or schedule, or tables not migrated,
named before anything runs."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from django.core.checks import Error, Tags, register
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router
from django.db.migrations.executor import MigrationExecutor
from django.utils.module_loading import import_string

from .conf import saga_settings
from .errors import SagaDefinitionError
from .routers import ROUTER_PATH, router_installed
from .schedules.declaration import check as check_schedule
from .schedules.declaration import declared_schedules


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


@register(Tags.compatibility)
def check_schedules(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The schedules the apps' ``sagas.py`` declare: a bad cron expression,
    time zone, policy or definition is named before an engine starts."""
    hint = "See the guide 'Wait and schedule': docs/how-to/wait.md in django-saga."
    try:
        declared = declared_schedules()
    except SagaDefinitionError as exc:
        return [Error(str(exc), hint=hint, id="django_saga.E030")]
    errors = []
    for declaration in declared:
        try:
            check_schedule(declaration)
        except SagaDefinitionError as exc:
            errors.append(Error(str(exc), hint=hint, id="django_saga.E030"))
    return errors


#: The check id of unapplied migrations, also named by ``saga_engine``'s refusal.
UNAPPLIED_ID = "django_saga.E020"


def unapplied_migrations() -> tuple[str, list[str]]:
    """The database django-saga writes to, and its migrations not applied there."""
    from .models import Saga

    alias = router.db_for_write(Saga) or DEFAULT_DB_ALIAS
    executor = MigrationExecutor(connections[alias])
    targets = [key for key in executor.loader.graph.leaf_nodes() if key[0] == "django_saga"]
    plan = executor.migration_plan(targets)
    # Its own only: migrate applies the other apps' it depends on with them.
    return alias, [
        migration.name
        for migration, backwards in plan
        if migration.app_label == "django_saga" and not backwards
    ]


def unapplied_message(alias: str, names: list[str]) -> str:
    listed = ", ".join(names) if len(names) <= 3 else f"{names[0]} to {names[-1]}, {len(names)}"
    return (
        f"django-saga's tables are missing or out of date in database {alias!r} "
        f"(unapplied migrations: {listed}): run manage.py migrate"
    )


@register(Tags.database)
def check_migrations(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Error]:
    """Unapplied django-saga migrations, with ``check --database`` (never within ``migrate``,
    which runs the database checks before applying them)."""
    if not databases or _inside_migrate() or not uses_tables():
        return []
    try:
        alias, names = unapplied_migrations()
    except DatabaseError:
        return []  # the database's own errors are reported by Django's checks
    if alias not in databases or not names:
        return []
    return [
        Error(
            unapplied_message(alias, names),
            hint="The engine refuses to start until they are applied.",
            id=UNAPPLIED_ID,
        )
    ]


def uses_tables() -> bool:
    """Whether the configured store keeps sagas in django-saga's tables."""
    from .stores.django import DjangoStore

    try:
        store = import_string(saga_settings.STORE)
    except ImportError:
        return False  # check_settings names it
    return isinstance(store, type) and issubclass(store, DjangoStore)


def _inside_migrate() -> bool:
    """Whether ``manage.py migrate`` runs the checks (it applies what this one reports)."""
    from django.core.management.commands.migrate import Command as Migrate

    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if isinstance(frame.f_locals.get("self"), Migrate):
            return True
        frame = frame.f_back
    return False
