"""The console's frame: the links a user may follow and the tasks waiting
for them, counted over what is offered to them and what they claimed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group

from django_saga import Task, manager
from django_saga.templatetags.saga_console import console_nav
from django_saga.testing import SagaTestKit
from tests.unit.console.api_helpers import make_user
from tests.unit.console.helpers import VIEW

pytestmark = pytest.mark.django_db


def test_an_anonymous_user_gets_no_link_and_no_count():
    assert console_nav(AnonymousUser()) == {"console": False, "tasks": None}


def test_the_count_is_what_is_offered_to_the_user_and_what_they_claimed(django_user_model):
    operator = make_user(django_user_model, VIEW, name="operator")
    clerk = make_user(django_user_model, name="clerk", staff=False)
    clerk.groups.add(Group.objects.get_or_create(name="clerks")[0])
    assert console_nav(operator) == {"console": True, "tasks": 0}
    with SagaTestKit() as kit:
        first = kit.start("a", [Task("check", candidates=["clerks"])])
        kit.start("b", [Task("check", candidates=["clerks"])])
        kit.start("c", [Task("check", candidates=["others"])])
        assert console_nav(clerk) == {"console": False, "tasks": 2}
        manager.claim_task(kit.task(first, "check").pk, by=clerk)
        assert console_nav(clerk) == {"console": False, "tasks": 2}  # one offered, one claimed
