"""Re-driving many sagas from the console: the form, its preview, sending them
paced, then where the re-drive stands.
"""

from __future__ import annotations

import re
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.urls import reverse

from django_saga.console.pages import redrive
from django_saga.models import Intervention, OutboxMessage, Saga
from tests.factories import SagaFactory, SagaStepFactory
from tests.unit.console.helpers import (
    build_saga,
    field_errors,
    halted_saga,
    logged_in,
    shown_messages,
    state_of,
)


def redrive_form(**fields: str) -> dict[str, str]:
    return {"name": "", "state": "", "error": "", "older_than": "", "rate": "2", **fields}


@pytest.mark.django_db
def test_the_redrive_preview_counts_and_lists_the_sagas_and_changes_nothing(repairer):
    old = [halted_saga(updated_ago=timedelta(hours=2)) for _ in range(3)]
    recent = halted_saga()
    failed = build_saga("failed", name="refund", error="card declined")
    build_saga("completed")
    client = logged_in(repairer)

    def preview(**fields: str) -> Any:
        response = client.post(reverse("django_saga:redrive"), redrive_form(reason="r", **fields))
        assert response.status_code == 200
        return response.context["preview"]

    every = preview()
    assert every["count"].value == 5
    shown = [row.saga.pk for row in every["rows"]]
    assert shown == sorted([*(s.pk for s in old), recent.pk, failed.pk])
    assert [row.saga.pk for row in preview(state="halted", older_than="1h")["rows"]] == [
        s.pk for s in old
    ]
    assert [row.saga.pk for row in preview(error="DECLINED")["rows"]] == [failed.pk]
    assert [row.saga.pk for row in preview(name="refund")["rows"]] == [failed.pk]
    html = client.post(
        reverse("django_saga:redrive"), redrive_form(reason="r", rate="0.5")
    ).content.decode()
    assert "5 sagas match" in html
    assert "5 sagas will be sent, 0.5 a second: the last one in 8.0 s." in html
    assert not Intervention.objects.exists()
    assert Saga.objects.filter(state="halted").count() == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("reason", "", "A reason is required"),
        ("rate", "0", "rate must be above 0"),
        ("rate", "fast", "Enter a number."),
        ("older_than", "soon", "is not an age"),
        ("state", "completed", "Select a valid choice."),
    ],
)
def test_the_redrive_form_says_what_is_wrong_next_to_the_field(repairer, field, value, error):
    halted_saga()
    form = {**redrive_form(reason="r", run="1"), field: value}
    response = logged_in(repairer).post(reverse("django_saga:redrive"), form)
    assert response.status_code == 400
    assert error in field_errors(response.content.decode(), field)
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_a_redrive_sends_the_sagas_paced_then_shows_its_progress(repairer, settings):
    settings.SAGA = {**settings.SAGA, "CONSOLE_REFRESH": 3}
    sagas = [halted_saga() for _ in range(3)]
    other = build_saga("failed", name="refund")
    client = logged_in(repairer)
    response = client.post(
        reverse("django_saga:redrive"),
        redrive_form(name="order", rate="2", reason="carrier is back", run="1"),
    )
    assert response.status_code == 302
    batch = Intervention.objects.values_list("batch", flat=True).distinct().get()
    assert response["Location"] == reverse("django_saga:redrive-progress", args=[batch])
    assert {state_of(s) for s in sagas} == {"started"}
    assert state_of(other) == "failed"
    sends = OutboxMessage.objects.filter(kind="execute").order_by("available_at")
    gaps = [b.available_at - a.available_at for a, b in pairwise(sends)]
    assert [round(gap.total_seconds(), 1) for gap in gaps] == [0.5, 0.5]
    assert set(Intervention.objects.values_list("actor", "reason")) == {
        ("repairer", "carrier is back")
    }

    progress = client.get(response["Location"])
    assert shown_messages(progress)[0].startswith("Re-drive started: 3 sagas scheduled, 2 a second")
    html = progress.content.decode()
    assert re.search(r'data-state="started">\s*<div class="n">3</div>', html)
    assert '<meta http-equiv="refresh" content="3">' in html
    assert 'id="redrive-sagas">3<' in html

    Saga.objects.filter(pk__in=[s.pk for s in sagas[:2]]).update(state="completed")
    Saga.objects.filter(pk=sagas[2].pk).update(state="halted")
    Intervention.objects.update(details={"state": "halted"})
    settled = client.get(response["Location"]).content.decode()
    assert re.search(r'data-state="completed">\s*<div class="n">2</div>', settled)
    assert 'http-equiv="refresh"' not in settled
    # The saga that halted again is listed, to be looked at.
    waiting = settled[settled.index('id="waiting"') :]
    assert sagas[2].pk in waiting and sagas[0].pk not in waiting
    # Each saga's trail links the re-drive.
    detail = client.get(reverse("django_saga:detail", args=[sagas[0].pk])).content.decode()
    assert f'href="{response["Location"]}"' in detail


@pytest.mark.django_db
def test_a_redrive_says_which_sagas_it_left_alone_and_why(repairer):
    halted_saga()
    # Failed, but no step of it is: nothing a re-drive can retry.
    odd = SagaFactory(name="order", failed=True)
    SagaStepFactory(saga=odd, position=0, name="only", completed=True)
    response = logged_in(repairer).post(
        reverse("django_saga:redrive"), redrive_form(reason="r", run="1"), follow=True
    )
    said = shown_messages(response)
    assert said[0].startswith("Re-drive started: 1 saga scheduled")
    assert said[1].startswith(f"1 left alone: Saga {odd.pk} is failed with no failed step;")
    assert state_of(odd) == "failed"


@pytest.mark.django_db
def test_one_redrive_request_sends_a_bounded_number_and_says_so(repairer, monkeypatch):
    monkeypatch.setattr(redrive, "REDRIVE_AT_ONCE", 2)
    sagas = sorted((halted_saga() for _ in range(3)), key=lambda saga: saga.pk)
    client = logged_in(repairer)
    preview = client.post(reverse("django_saga:redrive"), redrive_form(reason="r"))
    assert "At most 2 are re-driven at a time" in preview.content.decode()
    assert preview.context["preview"]["sent"] == 2
    response = client.post(reverse("django_saga:redrive"), redrive_form(reason="r", run="1"))
    said = shown_messages(client.get(response["Location"]))
    assert "More sagas match than one re-drive sends (2): re-drive again for the rest." in said
    assert [state_of(s) for s in sagas] == ["started", "started", "halted"]


@pytest.mark.django_db
def test_an_unknown_redrive_is_404(repairer):
    client = logged_in(repairer)
    assert client.get(reverse("django_saga:redrive-progress", args=["NOPE"])).status_code == 404
    api_response = client.get(reverse("django_saga:api-redrive-progress", args=["NOPE"]))
    assert api_response.status_code == 404 and api_response.json()["error"] == "not_found"
