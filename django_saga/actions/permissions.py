"""The actions' permissions, made by ``migrate`` from the table.

Django makes a model's ``Meta.permissions`` through migrations; declared
there, each new action would need one. They are made here instead, after
every ``migrate`` (as Django makes the add/change/delete/view ones), so an
action's permission lives in its declaration.
"""

from __future__ import annotations

from typing import Any

from django.db import router

from .catalogue import ACTIONS
from .redrive import REDRIVE_CODENAME, REDRIVE_PERMISSION_NAME


def declared() -> list[tuple[str, str]]:
    """Every permission the actions need: ``(codename, name)``."""
    return [
        *((action.codename, action.permission_name) for action in ACTIONS),
        (REDRIVE_CODENAME, REDRIVE_PERMISSION_NAME),
    ]


def create_permissions(using: str = "default", **kwargs: Any) -> None:
    """``post_migrate``: make the permissions missing from ``using`` (renaming
    none, deleting none: a grant an operator made is never touched)."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from ..models import Saga

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
