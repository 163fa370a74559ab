"""Running an action: checked under the saga's locks, recorded with the change."""

from __future__ import annotations

import pytest

from django_saga.actions import RETRY_STEP, SKIP_STEP, Actor, Request
from django_saga.actions.apply import apply, relevant_steps
from django_saga.errors import InvalidStateTransition, SagaNotFound
from django_saga.models import Intervention
from django_saga.stores import get_store
from tests import factories


@pytest.mark.django_db
def test_a_refused_action_changes_nothing_and_records_nothing() -> None:
    saga = factories.halted_saga()
    request = Request(RETRY_STEP, Actor.of("olga"), "again", step="reserve")
    refused = pytest.raises(InvalidStateTransition, match="only a failed step can be retried")
    with refused, get_store().open_saga(saga.pk) as unit:
        apply(unit, request)
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_an_applied_action_records_who_why_and_what_it_changed() -> None:
    saga = factories.halted_saga()
    request = Request(SKIP_STEP, Actor.of("olga"), "handed over", step="ship", data={"t": 1})
    with get_store().open_saga(saga.pk) as unit:
        entry = apply(unit, request)
    assert entry is not None
    stored = Intervention.objects.get()
    assert (stored.action, stored.step, stored.actor, stored.reason) == (
        "skip_step",
        "ship",
        "olga",
        "handed over",
    )
    assert stored.details == {
        "state": "halted",
        "step_error": "carrier down",
        "output": {"t": 1},
        "step_status": "failed",
    }


@pytest.mark.django_db
def test_a_step_no_saga_has_is_not_found() -> None:
    saga = factories.halted_saga()
    missing = pytest.raises(SagaNotFound, match="has no step 'nope'")
    with missing, get_store().open_saga(saga.pk) as unit:
        apply(unit, Request(RETRY_STEP, Actor.of("olga"), "x", step="nope"))


@pytest.mark.django_db
def test_the_steps_that_decide_are_the_pivot_and_the_step_acted_on() -> None:
    saga = factories.halted_saga()
    assert [s.name for s in relevant_steps(saga.pk)] == ["capture"]
    assert [s.name for s in relevant_steps(saga.pk, "ship")] == ["capture", "ship"]
