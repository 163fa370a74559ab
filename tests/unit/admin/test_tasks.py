"""Tasks in the admin, read-only: listed newest first with whom each is
offered to, linked to their page, never added, changed or deleted here."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga import Task
from django_saga.testing import SagaTestKit
from tests.unit.console.helpers import logged_in

pytestmark = pytest.mark.django_db

TASKS = reverse("admin:django_saga_sagatask_changelist")


def test_tasks_are_listed_and_shown_with_their_offers_and_cannot_be_changed(root):
    with SagaTestKit() as kit:
        first = kit.task(kit.start("a", [Task("ok", candidates=["clerks"])]), "ok")
        second = kit.task(kit.start("b", [Task("ok", permission="auth.view_user")]), "ok")
    client = logged_in(root)
    listed = client.get(TASKS).context["cl"].result_list
    assert [t.pk for t in listed] == [second.pk, first.pk]
    page = client.get(reverse("admin:django_saga_sagatask_change", args=[first.pk]))
    html = page.content.decode()
    assert "clerks" in html and reverse("django_saga:task", args=[first.pk]) in html
    assert (
        client.post(reverse("admin:django_saga_sagatask_change", args=[first.pk]), {}).status_code
        == 403
    )
    delete = reverse("admin:django_saga_sagatask_delete", args=[first.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert "Add task" not in client.get(TASKS).content.decode()
