"""The demo's people: a refund manager and a director to log in as, in the
groups the shop's refunds are offered to, made once however often it runs."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from example_project.shop.demo.people import DIRECTOR, MANAGER, PASSWORD, demo_people

pytestmark = pytest.mark.django_db


def test_the_demo_s_manager_and_director_can_log_in_and_are_in_their_groups():
    demo_people()
    demo_people()
    users = get_user_model().objects.filter(username__in=[MANAGER, DIRECTOR]).order_by("username")
    assert [(u.username, [g.name for g in u.groups.all()]) for u in users] == [
        (DIRECTOR, ["shop-directors"]),
        (MANAGER, ["refund-managers"]),
    ]
    assert all(user.check_password(PASSWORD) for user in users)
