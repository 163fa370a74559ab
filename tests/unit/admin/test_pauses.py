"""Pauses and held messages in the admin: whoever may pause pauses from the
add page and resumes the selected pauses, each asked why, through the
manager; a pause row is never edited or deleted (its own trail); held
messages are read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga import admin as saga_admin
from django_saga import manager
from django_saga.actions.pauses import PAUSE_PERMISSION
from django_saga.messages import EXECUTE
from django_saga.models import HeldMessage, Pause
from tests.unit.console.api_helpers import make_user
from tests.unit.console.helpers import logged_in

pytestmark = pytest.mark.django_db

PAUSES = reverse("admin:django_saga_pause_changelist")
HELD = reverse("admin:django_saga_heldmessage_changelist")
ADD = reverse("admin:django_saga_pause_add")


@pytest.fixture
def pauser(django_user_model):
    return make_user(django_user_model, "django_saga.view_pause", PAUSE_PERMISSION, name="pauser")


def test_pauses_are_listed_newest_first_and_never_edited_or_deleted(root):
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
    delete = reverse("admin:django_saga_pause_delete", args=[second.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Pause.objects.get(pk=second.pk).reason == "audit"


def test_whoever_may_pause_pauses_from_the_add_page_with_a_reason(pauser):
    client = logged_in(pauser)
    answer = client.post(
        ADD, {"scope": "action", "pattern": "payment.*", "reason": "provider outage"}
    )
    assert answer.status_code == 302
    [pause] = manager.pauses()
    assert (pause.scope, pause.pattern, pause.reason, pause.paused_by) == (
        "action",
        "payment.*",
        "provider outage",
        "pauser",
    )


def test_a_pause_without_a_reason_or_of_what_is_paused_already_is_refused_on_the_form(pauser):
    client = logged_in(pauser)
    blank = client.post(ADD, {"scope": "action", "pattern": "payment.*", "reason": "  "})
    assert blank.status_code == 200 and not Pause.objects.exists()
    assert "reason" in blank.context["adminform"].form.errors
    manager.pause(action="payment.*", by="ada", reason="provider outage")
    again = client.post(ADD, {"scope": "action", "pattern": "payment.*", "reason": "me too"})
    assert again.status_code == 200
    assert again.context["adminform"].form.non_field_errors() == [
        "Action payment.* is paused already."
    ]
    assert 'value="payment.*"' in again.content.decode()  # the input is kept
    assert Pause.objects.count() == 1


def test_resume_asks_why_then_resumes_the_pauses_in_force_and_names_the_others(pauser):
    ended = manager.pause(name="nightly", by="ada", reason="audit")
    manager.resume(name="nightly", by="ada", reason="done")
    outage = manager.pause(action="payment.*", by="ada", reason="provider outage")
    client = logged_in(pauser)
    chosen = {"action": "resume_pauses", "_selected_action": [outage.pk, ended.pk], "index": 0}
    page = client.post(PAUSES, chosen)
    assert "admin/django_saga/action_confirmation.html" in [t.name for t in page.templates]
    assert manager.pauses() == [outage]  # nothing resumed before the reason
    done = client.post(PAUSES, {**chosen, "post": "yes", "reason": "provider back"}, follow=True)
    assert manager.pauses() == []
    resumed = Pause.objects.get(pk=outage.pk)
    assert (resumed.resumed_by, resumed.resume_reason) == ("pauser", "provider back")
    notes = [str(m) for m in done.context["messages"]]
    assert "Resume: 1 pause(s)." in notes
    assert any(note.startswith("saga name nightly was resumed already") for note in notes)


def test_a_viewer_may_neither_pause_nor_resume(django_user_model):
    viewer = make_user(django_user_model, "django_saga.view_pause", name="watcher")
    manager.pause(action="payment.*", by="ada", reason="provider outage")
    client = logged_in(viewer)
    page = client.get(PAUSES)
    assert page.status_code == 200
    assert "resume_pauses" not in page.content.decode()
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, {"scope": "name", "pattern": "x", "reason": "r"}).status_code == 403
    assert Pause.objects.count() == 1


def test_held_messages_are_listed_and_searched_by_saga(root):
    held = HeldMessage.objects.create(
        saga_id="S" * 26, step_id="T" * 26, kind=EXECUTE, attempt=1, action="payment.charge"
    )
    client = logged_in(root)
    assert [h.pk for h in client.get(HELD, {"q": "S" * 26}).context["cl"].result_list] == [held.pk]
    assert client.get(HELD, {"q": "X" * 26}).context["cl"].result_list.count() == 0
