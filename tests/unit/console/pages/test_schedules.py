"""The schedules' pages: the list (when in words, next run, last run and its
saga's state), a schedule's page (next ticks, latest runs, trail) and its
forms to pause, resume and run it now, each asking why."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from django_saga import manager
from django_saga.models import Saga, Schedule, ScheduleIntervention
from tests.unit.console.helpers import (
    PAUSE_SCHEDULE,
    TRIGGER_SCHEDULE,
    VIEW,
    VIEW_SCHEDULE,
    field_errors,
    logged_in,
    make_user,
    shown_messages,
)
from tests.unit.schedules.helpers import make

pytestmark = pytest.mark.django_db

LIST = "/sagas/schedules/"
PAGE = "/sagas/schedules/report/"


def act_url(act: str, name: str = "report") -> str:
    return reverse(f"django_saga:schedule-{act}", args=[name])


# -- the list -------------------------------------------------------------------------------------
def test_the_list_says_when_each_runs_in_words_its_next_run_and_its_last_runs_outcome(
    kit, scheduler
):
    make("nightly", cron="0 2 * * *", timezone="Europe/Berlin")
    make("hourly", every=3600)
    kit.advance(minutes=1)  # hourly's first tick, made at 09:30, runs
    manager.pause_schedule("nightly", by="ada", reason="warehouse closed")
    response = logged_in(scheduler).get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    nightly = _row(html, "nightly")
    assert "At 02:00 every day, Europe/Berlin" in nightly
    assert 'data-status="paused"' in nightly
    assert "none while paused" in nightly
    assert 'href="/sagas/schedules/nightly/"' in nightly
    hourly = _row(html, "hourly")
    saga = Saga.objects.get()
    assert 'data-status="enabled"' in hourly and "every hour" in hourly
    assert f'href="/sagas/{saga.pk}/"' in hourly
    assert 'data-state="completed"' in hourly
    assert "(in 59\xa0minutes)" in hourly


def test_the_list_shows_the_ticks_skipped_and_the_last_error(kit, scheduler):
    make(every=3600)
    Schedule.objects.update(skipped=4, error="SagaDefinitionError: it does not load")
    row = _row(logged_in(scheduler).get(LIST).content.decode(), "report")
    assert '<td class="skipped">4</td>' in row
    assert "SagaDefinitionError: it does not load" in row


def test_an_empty_list_says_how_to_make_a_schedule(scheduler):
    assert "No schedule." in logged_in(scheduler).get(LIST).content.decode()


def test_the_navigation_links_the_schedules_for_whoever_may_see_them(django_user_model):
    seeing = logged_in(make_user(django_user_model, VIEW, VIEW_SCHEDULE, name="seeing"))
    assert 'id="schedules-link"' in seeing.get("/sagas/").content.decode()
    blind = logged_in(make_user(django_user_model, VIEW, name="blind"))
    assert 'id="schedules-link"' not in blind.get("/sagas/").content.decode()
    assert blind.get(LIST).status_code == 403


# -- a schedule's page ----------------------------------------------------------------------------
def test_a_schedules_page_lists_its_next_ticks_its_runs_and_their_sagas(kit, scheduler):
    make(cron="0 * * * *")
    kit.advance(hours=2)  # 10:00 and 11:00 run
    saga = manager.run_schedule("report", by="ada", reason="needed now")
    kit.run()
    response = logged_in(scheduler).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="schedule-when">At the start of every hour, UTC<' in html
    ticks = re.findall(r"<li>(2026-\S+ \S+) UTC", _section(html, "upcoming"))
    assert ticks == [f"2026-12-07 {h}:00:00" for h in (12, 13, 14, 15, 16)]
    runs = _section(html, "runs")
    assert runs.count("<tr data-saga=") == 3
    assert f'href="/sagas/{saga.pk}/"' in runs and "<td>ada</td>" in runs
    assert runs.count("<td>the schedule</td>") == 2
    assert runs.count('data-state="completed"') == 3
    trail = _section(html, "trail")
    assert "ran now" in trail and "needed now" in trail and f"/sagas/{saga.pk}/" in trail


def test_a_paused_schedules_page_says_it_will_not_run_and_what_a_resume_would_run(kit, scheduler):
    make(cron="0 * * * *")
    manager.pause_schedule("report", by="ada", reason="hold")
    html = logged_in(scheduler).get(PAGE).content.decode()
    assert "none while paused" in html
    assert "Next ticks once resumed" in html
    assert "2026-12-07 10:00:00 UTC" in _section(html, "upcoming")


def test_an_unknown_schedule_is_a_404(scheduler):
    assert logged_in(scheduler).get("/sagas/schedules/nope/").status_code == 404


def test_each_form_is_shown_to_whoever_may_use_it_while_it_applies(kit, django_user_model):
    make(cron="0 * * * *")
    pauser = logged_in(
        make_user(django_user_model, VIEW, VIEW_SCHEDULE, PAUSE_SCHEDULE, name="pauser")
    )
    trigger = logged_in(
        make_user(django_user_model, VIEW, VIEW_SCHEDULE, TRIGGER_SCHEDULE, name="trigger")
    )
    reader = logged_in(make_user(django_user_model, VIEW, VIEW_SCHEDULE, name="reader"))
    assert _forms(pauser) == ["pause"]
    assert _forms(trigger) == ["run"]
    assert _forms(reader) == []
    manager.pause_schedule("report", by="ada", reason="hold")
    assert _forms(pauser) == ["resume"]


# -- the actions ----------------------------------------------------------------------------------
def test_pause_resume_and_run_now_go_through_the_manager_and_onto_the_trail(kit, scheduler):
    make(cron="0 * * * *")
    client = logged_in(scheduler)
    paused = client.post(act_url("pause"), {"reason": "warehouse closed"}, follow=True)
    assert paused.redirect_chain == [(PAGE, 302)]
    assert shown_messages(paused) == ["Schedule report paused: it does not tick until resumed."]
    assert Schedule.objects.get().enabled is False
    ran = client.post(act_url("run"), {"reason": "needed now"}, follow=True)
    saga = Saga.objects.get()
    assert shown_messages(ran) == [f"Started saga {saga.pk}."]
    resumed = client.post(act_url("resume"), {"reason": "open again"}, follow=True)
    assert shown_messages(resumed) == [
        "Schedule report resumed: its next run is at 2026-12-07 10:00:00 UTC."
    ]
    trail = ScheduleIntervention.objects.order_by("id")
    assert [(t.action, t.actor, t.reason) for t in trail] == [
        ("pause", "scheduler", "warehouse closed"),
        ("run_now", "scheduler", "needed now"),
        ("resume", "scheduler", "open again"),
    ]


def test_a_blank_reason_shows_the_page_again_with_the_error_under_that_form(kit, scheduler):
    make(cron="0 * * * *")
    response = logged_in(scheduler).post(act_url("pause"), {"reason": "  "})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A reason is required" in field_errors(html, "pause_reason")
    assert field_errors(html, "run_reason") == ""
    assert Schedule.objects.get().enabled is True
    assert not ScheduleIntervention.objects.exists()


def test_the_managers_refusal_goes_back_to_the_page_with_its_sentence(kit, scheduler):
    make(cron="0 * * * *")
    response = logged_in(scheduler).post(act_url("resume"), {"reason": "go"}, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert shown_messages(response) == ["Schedule report is not paused."]
    assert not ScheduleIntervention.objects.exists()


def test_a_saga_that_cannot_start_is_refused_with_the_managers_sentence(kit, scheduler):
    make(cron="0 * * * *")
    Schedule.objects.update(definition="tests.testapp.sagas.Nowhere")
    response = logged_in(scheduler).post(act_url("run"), {"reason": "now"}, follow=True)
    (said,) = shown_messages(response)
    assert "Nowhere" in said
    assert not Saga.objects.exists() and not ScheduleIntervention.objects.exists()


@pytest.mark.parametrize(
    ("act", "permission"), [("pause", PAUSE_SCHEDULE), ("run", TRIGGER_SCHEDULE)]
)
def test_an_action_needs_its_permission(kit, django_user_model, act, permission):
    make(cron="0 * * * *")
    others = [p for p in (PAUSE_SCHEDULE, TRIGGER_SCHEDULE) if p != permission]
    client = logged_in(make_user(django_user_model, VIEW, VIEW_SCHEDULE, *others))
    assert client.post(act_url(act), {"reason": "r"}).status_code == 403
    assert not ScheduleIntervention.objects.exists() and not Saga.objects.exists()


def test_the_action_addresses_take_no_get(kit, scheduler):
    make(cron="0 * * * *")
    assert logged_in(scheduler).get(act_url("pause")).status_code == 405


# -- reading the pages ----------------------------------------------------------------------------
def _row(html: str, name: str) -> str:
    found = re.search(rf'<tr data-schedule="{name}">(.*?)</tr>', html, re.S)
    assert found, f"no row for {name}"
    return found[1]


def _section(html: str, heading: str) -> str:
    """The page from the heading ``heading``-heading to the next heading."""
    start = html.index(f'id="{heading}-heading"')
    end = html.find("<h2", start)
    return html[start : end if end != -1 else len(html)]


def _forms(client) -> list[str]:
    html = client.get(PAGE).content.decode()
    return re.findall(r'<form method="post" action="[^"]+" id="([a-z]+)-form"', html)
