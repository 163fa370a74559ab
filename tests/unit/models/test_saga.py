"""The Saga model: what its state says, how it reads its steps, its queryset, its key rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from django_saga.models import Saga, SagaState
from tests.factories import SagaFactory, SagaStepFactory

pytestmark = pytest.mark.django_db

# state: (is_completed, is_failed, is_halted, is_compensated, is_active)
ANSWERS = {
    SagaState.STARTED: (False, False, False, False, True),
    SagaState.COMPENSATING: (False, False, False, False, True),
    SagaState.COMPLETED: (True, False, False, False, False),
    SagaState.COMPENSATED: (False, False, False, True, False),
    SagaState.FAILED: (False, True, False, False, False),
    SagaState.HALTED: (False, True, True, False, False),
    SagaState.COMPENSATION_FAILED: (False, True, False, False, False),
    SagaState.QUEUED: (False, False, False, False, False),
}


def test_every_state_has_its_answers():
    assert set(ANSWERS) == set(SagaState)


@pytest.mark.parametrize("state", list(ANSWERS))
def test_each_question_about_the_state_answers_as_documented(state):
    saga = Saga(name="order", state=state)
    asked = (
        saga.is_completed(),
        saga.is_failed(),
        saga.is_halted(),
        saga.is_compensated(),
        saga.is_active(),
    )
    assert asked == ANSWERS[state]


def test_str_names_the_saga_its_id_and_state():
    saga = Saga(id="01J0000000000000000000000A", name="order", state="halted")
    assert str(saga) == "order 01J0000000000000000000000A (halted)"


def three_steps_in_two_stages() -> Saga:
    saga = SagaFactory(name="order")
    # Written out of order: the saga reads them by position.
    SagaStepFactory(saga=saga, position=2, stage=1, name="ship")
    SagaStepFactory(saga=saga, position=0, stage=0, name="reserve")
    SagaStepFactory(saga=saga, position=1, stage=0, name="charge")
    return Saga.objects.get(pk=saga.pk)


def test_steps_come_in_position_order_and_are_read_once(django_assert_num_queries):
    saga = three_steps_in_two_stages()
    with django_assert_num_queries(1):
        assert [s.name for s in saga.steps] == ["reserve", "charge", "ship"]
        assert saga.steps is saga.steps
        assert [[s.name for s in stage] for stage in saga.stages] == [
            ["reserve", "charge"],
            ["ship"],
        ]
        assert saga.step("charge").position == 1


def test_a_step_not_in_the_saga_is_a_key_error_naming_it():
    saga = three_steps_in_two_stages()
    with pytest.raises(KeyError, match="has no step named 'refund'"):
        saga.step("refund")


def test_set_steps_gives_the_steps_without_a_query(django_assert_num_queries):
    saga = three_steps_in_two_stages()
    given = list(reversed(list(saga.step_set.all())))
    saga.set_steps(given)
    with django_assert_num_queries(0):
        assert saga.steps == given
        assert saga.step("reserve") is given[-1]


def test_refresh_from_db_forgets_the_steps_it_read():
    saga = three_steps_in_two_stages()
    assert len(saga.steps) == 3
    SagaStepFactory(saga=saga, position=3, stage=2, name="notify")
    assert len(saga.steps) == 3
    saga.refresh_from_db()
    assert [s.name for s in saga.steps][-1] == "notify"


def test_the_queryset_filters_by_state():
    started = SagaFactory()
    compensating = SagaFactory(compensating=True)
    failed = SagaFactory(failed=True)
    SagaFactory(completed=True)
    assert set(Saga.objects.active()) == {started, compensating}
    assert set(Saga.objects.in_state("failed", "compensating")) == {failed, compensating}


def test_with_key_finds_a_names_sagas_by_key_newest_first():
    older = SagaFactory(id="01J0000000000000000000000A", name="order", key="k", completed=True)
    newer = SagaFactory(id="01J0000000000000000000000B", name="order", key="k")
    SagaFactory(name="refund", key="k")
    SagaFactory(name="order", key="other")
    assert list(Saga.objects.with_key("order", "k")) == [newer, older]


@pytest.mark.parametrize("older_than", [3600, timedelta(hours=1)])
def test_stale_is_an_active_saga_unchanged_for_that_long(older_than):
    quiet, busy, finished = SagaFactory(), SagaFactory(), SagaFactory(completed=True)
    two_hours_ago = timezone.now() - timedelta(hours=2)
    Saga.objects.filter(pk__in=[quiet.pk, finished.pk]).update(updated_at=two_hours_ago)
    assert list(Saga.objects.stale(older_than)) == [quiet]
    assert busy not in Saga.objects.stale(older_than)


def test_one_unfinished_saga_of_a_name_may_hold_a_key():
    first = SagaFactory(name="order", key="order-7")
    with pytest.raises(IntegrityError), transaction.atomic():
        SagaFactory(name="order", key="order-7")
    SagaFactory(name="refund", key="order-7")  # another name
    SagaFactory(name="order", key="")  # no key: no limit
    SagaFactory(name="order", key="")
    Saga.objects.filter(pk=first.pk).update(state=SagaState.COMPENSATED)
    assert SagaFactory(name="order", key="order-7").key == "order-7"
