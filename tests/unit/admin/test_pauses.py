"""The admin lists pauses and held messages read-only: made and ended only
through the manager, each pause row its own trail."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga import admin as saga_admin
from django_saga import manager
from django_saga.messages import EXECUTE
from django_saga.models import HeldMessage, Pause
from tests.unit.console.helpers import logged_in

pytestmark = pytest.mark.django_db

PAUSES = reverse("admin:django_saga_pause_changelist")
HELD = reverse("admin:django_saga_heldmessage_changelist")


def test_pauses_are_listed_newest_first_and_cannot_be_changed_here(root):
    first = manager.pause(action="payment.*", by="ada", reason="provider outage")
    manager.resume(action="payment.*", by="ada", reason="provider back")
    second = manager.pause(name="nightly", by="bob", reason="audit")
    client = logged_in(root)
    listed = client.get(PAUSES).context["cl"]
    assert [p.pk for p in listed.result_list] == [second.pk, first.pk]
    assert isinstance(listed.paginator, saga_admin.BoundedPaginator)
    assert [p.pk for p in client.get(PAUSES, {"scope": "name"}).context["cl"].result_list] == [
        second.pk
    ]
    url = reverse("admin:django_saga_pause_change", args=[second.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": "rewritten"}).status_code == 403
    assert "Add pause" not in client.get(PAUSES).content.decode()
    assert Pause.objects.get(pk=second.pk).reason == "audit"


def test_held_messages_are_listed_and_searched_by_saga(root):
    held = HeldMessage.objects.create(
        saga_id="S" * 26, step_id="T" * 26, kind=EXECUTE, attempt=1, action="payment.charge"
    )
    client = logged_in(root)
    assert [h.pk for h in client.get(HELD, {"q": "S" * 26}).context["cl"].result_list] == [held.pk]
    assert client.get(HELD, {"q": "X" * 26}).context["cl"].result_list.count() == 0
