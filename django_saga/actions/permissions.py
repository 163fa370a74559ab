"""The actions' permissions, made by ``migrate`` from the table.

Django makes a model's ``Meta.permissions`` through migrations; declared
there, each new action would need one. They are made here instead, after
every ``migrate`` (as Django makes the add/change/delete/view ones), so an
action's permission lives in its declaration.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.db import router

from .catalogue import ACTIONS
from .redrive import REDRIVE_CODENAME, REDRIVE_PERMISSION_NAME


def declared() -> list[tuple[str, str]]:
    """Every permission the actions need: ``(codename, name)``."""
    return [
        *((action.codename, action.permission_name) for action in ACTIONS),
        (REDRIVE_CODENAME, REDRIVE_PERMISSION_NAME),
    ]


def create_permissions(using: str = "default", apps: Any = global_apps, **kwargs: Any) -> None:
    """``post_migrate``: make the permissions missing from ``using`` (renaming
    none, deleting none: a grant an operator made is never touched).

    The models come from ``apps``, the state the migration left: after a
    partial ``migrate`` the permission or content-type tables may not exist
    yet, and there is then nothing to do until they do.
    """
    try:
        Permission = apps.get_model("auth", "Permission")
        ContentType = apps.get_model("contenttypes", "ContentType")
        Saga = apps.get_model("django_saga", "Saga")
    except LookupError:
        return
    if not router.allow_migrate_model(using, Permission):
        return
    kind = ContentType.objects.db_manager(using).get_for_model(Saga)
    have = set(
        Permission.objects.using(using).filter(content_type=kind).values_list("codename", flat=True)
    )
    Permission.objects.using(using).bulk_create(
        [
            Permission(codename=codename, name=name, content_type=kind)
            for codename, name in declared()
            if codename not in have
        ]
    )
