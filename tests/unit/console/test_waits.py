"""Why a saga or a step waits, in the console's words: a paused saga names
who paused it and why; a held step names its saga's pause, a pause of its
action (who, why) or its action's full limit; the dashboard shows every
pause in force."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_saga import manager
from django_saga.console.waits import pause_note, pauses_in_force, step_waits
from django_saga.messages import EXECUTE
from django_saga.models import HeldMessage, Pause
from tests.unit.console.helpers import build_saga, logged_in

pytestmark = pytest.mark.django_db


def hold(saga, step: str, action: str, **fields) -> None:
    HeldMessage.objects.create(
        saga_id=saga.pk,
        step_id=saga.step(step).pk,
        kind=EXECUTE,
        attempt=1,
        action=action,
        **fields,
    )


def test_a_paused_saga_and_its_held_steps_say_what_holds_them(operator):
    saga = build_saga("started")
    assert pause_note(saga) == ""
    manager.pause_saga(saga.pk, by="ada", reason="customer on the phone")
    saga.refresh_from_db()
    assert pause_note(saga) == (
        "Paused by ada: customer on the phone. None of its handlers runs until it is resumed."
    )
    hold(saga, "b", "test.record", paused=True)
    assert step_waits(saga) == {saga.step("b").pk: "its run waits: the saga is paused"}
    page = logged_in(operator).get(reverse("django_saga:detail", args=[saga.pk]))
    html = page.content.decode()
    assert 'id="pause-note"' in html and "customer on the phone" in html
    assert "its run waits: the saga is paused" in html


def test_a_step_held_by_a_pause_of_its_action_or_for_a_slot_says_which():
    saga = build_saga("started")
    pause = Pause.objects.create(
        scope="action", pattern="test.*", paused_by="ada", reason="provider outage"
    )
    hold(saga, "b", "test.record", paused=True, pause_id=pause.pk)
    assert step_waits(saga) == {
        saga.step("b").pk: "its run waits: action test.* is paused by ada: provider outage"
    }
    HeldMessage.objects.all().delete()
    hold(saga, "b", "test.limited")
    assert step_waits(saga) == {
        saga.step("b").pk: "its run waits for a slot of test.limited (5 at a time)"
    }


def test_the_dashboard_shows_every_pause_in_force_and_no_ended_one(operator):
    manager.pause(action="payment.*", by="ada", reason="provider outage")
    manager.pause(name="nightly", by="bob", reason="audit")
    manager.resume(name="nightly", by="bob", reason="audit done")
    assert [p.pattern for p in pauses_in_force()] == ["payment.*"]
    html = logged_in(operator).get(reverse("django_saga:dashboard")).content.decode()
    assert html.count('class="alert pause-banner"') == 1
    assert "payment.*" in html and "provider outage" in html
