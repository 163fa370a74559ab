"""An admin action that asks why first: the page lists the selection by
label; confirmed with a reason, it acts on each row, naming each refusal
and counting the rest."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory

from django_saga import manager
from django_saga.admin.asking import CONFIRMATION, asks_why
from django_saga.admin.pauses import PauseAdmin
from django_saga.errors import InvalidStateTransition
from django_saga.models import Pause

pytestmark = pytest.mark.django_db


def _request(root, data: dict[str, str]):
    request = RequestFactory().post("/", data)
    request.user = root
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def _action(done: list[tuple[str, str, str]]):
    def act(pause, by, reason):
        if pause.pattern == "refused":
            raise InvalidStateTransition(f"{pause} may not")
        done.append((pause.pattern, by.get_username(), reason))

    return asks_why("poke", "Poke", "Pokes each.", "pause", str, act, "pause(s)")


def test_the_action_says_what_it_does_to_the_selection_and_whose_permission_it_needs():
    action = _action([])
    assert action.__name__ == "poke"
    assert action.short_description == "Poke (selected pause(s))"
    assert action.allowed_permissions == ["pause"]


def test_without_a_reason_it_shows_the_selection_and_does_nothing(root):
    first = manager.pause(action="a.*", by="ada", reason="r")
    done: list[tuple[str, str, str]] = []
    model_admin = PauseAdmin(Pause, admin.site)
    page = _action(done)(
        model_admin, _request(root, {"post": "yes", "reason": " "}), Pause.objects.all()
    )
    assert page.template_name == CONFIRMATION
    assert page.context_data["chosen"] == [(first.pk, "action a.*")]
    assert page.context_data["form"].errors["reason"]
    assert done == []


def test_with_a_reason_it_acts_on_each_row_and_names_each_it_refused(root):
    manager.pause(action="a.*", by="ada", reason="r")
    manager.pause(action="refused", by="ada", reason="r")
    manager.pause(name="b", by="ada", reason="r")
    done: list[tuple[str, str, str]] = []
    request = _request(root, {"post": "yes", "reason": "checked"})
    answer = _action(done)(PauseAdmin(Pause, admin.site), request, Pause.objects.order_by("pk"))
    assert answer is None  # back to the list
    assert done == [("a.*", "root", "checked"), ("b", "root", "checked")]
    assert [str(m) for m in get_messages(request)] == [
        "action refused may not",
        "Poke: 2 pause(s).",
    ]
