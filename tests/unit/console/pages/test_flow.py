"""The flow page: the limited actions with what runs and waits, the pauses
in force with a form to resume each, and a form to pause, for whoever holds
the permission."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga import manager
from django_saga.messages import EXECUTE
from django_saga.models import ActionRuns, HeldMessage, Pause
from tests.unit.console.api_helpers import make_user
from tests.unit.console.helpers import logged_in

pytestmark = pytest.mark.django_db

FLOW = reverse("django_saga:flow")


@pytest.fixture
def pauser(django_user_model):
    return make_user(
        django_user_model, "django_saga.view_saga", "django_saga.pause_actions", name="pauser"
    )


def test_the_page_lists_the_limited_actions_and_what_waits_for_them(operator):
    HeldMessage.objects.create(
        saga_id="S1", step_id="T1", kind=EXECUTE, attempt=1, action="test.limited"
    )
    ActionRuns.objects.create(kind=EXECUTE, action="test.paced", runs=1080)
    page = logged_in(operator).get(FLOW)
    rows = {row["action"]: row for row in page.context["limits"]}
    assert rows["test.limited"]["limit"].describe() == "5 at a time"
    assert rows["test.limited"]["waiting"] == 1
    assert rows["test.limited"]["per_second"] == 0
    assert rows["test.paced"]["per_second"] == 18.0  # 1,080 runs over the last minute
    assert rows["test.paced"]["limit"].describe() == "20/s"
    html = page.content.decode()
    assert "Nothing is paused." in html
    assert '<td class="per-second">18.0</td>' in html
    # Whoever may not pause sees no form.
    assert 'id="pause-form"' not in html


def test_a_permitted_user_pauses_and_resumes_with_a_reason(pauser):
    client = logged_in(pauser)
    assert 'id="pause-form"' in client.get(FLOW).content.decode()
    answer = client.post(
        reverse("django_saga:flow-pause"),
        {"scope": "action", "pattern": "payment.*", "reason": "provider outage"},
        follow=True,
    )
    assert "Paused action payment.*." in answer.content.decode()
    pause = Pause.objects.get()
    assert (pause.paused_by, pause.reason) == ("pauser", "provider outage")
    refused = client.post(
        reverse("django_saga:flow-pause"),
        {"scope": "action", "pattern": "payment.*", "reason": "again"},
        follow=True,
    )
    assert "Action payment.* is paused already." in refused.content.decode()
    client.post(
        reverse("django_saga:flow-resume"),
        {"scope": "action", "pattern": "payment.*", "reason": "provider back"},
    )
    assert Pause.objects.get().resume_reason == "provider back"
    blank = client.post(
        reverse("django_saga:flow-pause"),
        {"scope": "name", "pattern": "order", "reason": " "},
        follow=True,
    )
    assert "A reason is required" in blank.content.decode()
    assert Pause.objects.count() == 1


def test_pausing_needs_its_permission(operator):
    answer = logged_in(operator).post(
        reverse("django_saga:flow-pause"),
        {"scope": "action", "pattern": "payment.*", "reason": "r"},
    )
    assert answer.status_code == 403
    assert not Pause.objects.exists()
    manager.pause(action="x", by="ada", reason="r")
    assert (
        'name="reason" placeholder="Why resume"'
        not in logged_in(operator).get(FLOW).content.decode()
    )
