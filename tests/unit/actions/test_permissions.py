"""The actions' permissions: made by ``migrate`` from their declarations."""

from __future__ import annotations

import pytest
from django.apps.registry import Apps
from django.contrib.auth.models import Permission

from django_saga.actions import ACTIONS
from django_saga.actions.permissions import create_permissions, declared


@pytest.mark.django_db
def test_migrate_made_a_permission_for_every_action_and_for_redrives() -> None:
    made = set(
        Permission.objects.filter(content_type__app_label="django_saga").values_list(
            "codename", flat=True
        )
    )
    assert {action.codename for action in ACTIONS} | {"redrive_sagas"} <= made


@pytest.mark.django_db
def test_making_them_again_adds_none_and_renames_none() -> None:
    skip = Permission.objects.get(codename="skip_saga_step")
    skip.name = "Can skip steps (renamed by the project)"
    skip.save()
    before = Permission.objects.count()
    create_permissions(using="default")
    assert Permission.objects.count() == before
    skip.refresh_from_db()
    assert skip.name == "Can skip steps (renamed by the project)"


@pytest.mark.django_db
def test_a_missing_one_is_made_again() -> None:
    Permission.objects.filter(codename="compensate_saga").delete()
    create_permissions(using="default")
    made = Permission.objects.get(codename="compensate_saga")
    assert (made.codename, made.name) in declared()


@pytest.mark.django_db
def test_a_partial_migrate_without_the_permission_tables_makes_none() -> None:
    # ``migrate django_saga 0006`` on an empty database leaves neither auth's
    # nor contenttypes' tables: the state it hands over has no such models.
    Permission.objects.filter(codename="compensate_saga").delete()
    create_permissions(using="default", apps=Apps(installed_apps=()))
    assert not Permission.objects.filter(codename="compensate_saga").exists()
