"""``manager.act()`` and its named forms: any action of the table, by name or slug."""

from __future__ import annotations

import pytest

from django_saga import manager
from django_saga.errors import InvalidStateTransition, SagaDefinitionError
from django_saga.models import Intervention, Saga, SagaState
from tests import factories
from tests.factories import halted_saga
from tests.unit.console.helpers import build_saga


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["retry_step", "retry-step"])
def test_act_takes_an_action_by_its_name_or_its_slug(name: str) -> None:
    saga = factories.halted_saga()
    acted = manager.act(name, saga.pk, "ship", {"address": "new"}, by="olga", reason="fixed")
    assert acted.state == SagaState.STARTED
    assert acted.step("ship").input == {"address": "new"}
    [entry] = Intervention.objects.filter(saga=saga)
    assert (entry.action, entry.step, entry.actor, entry.reason) == (
        "retry_step",
        "ship",
        "olga",
        "fixed",
    )
    assert entry.details["input"] == {"address": "new"}


@pytest.mark.django_db
def test_an_unknown_action_is_refused_with_the_known_ones() -> None:
    saga = factories.halted_saga()
    with pytest.raises(SagaDefinitionError) as refused:
        manager.act("freeze", saga.pk, by="olga", reason="why not")
    assert str(refused.value) == (
        "No operator action 'freeze': the actions are compensate, retry_compensation, "
        "retry_step, skip_step, wake_step, pause, resume"
    )
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_compensate_is_forgiving_where_the_doors_are_strict() -> None:
    saga = factories.SagaFactory(compensating=True)
    factories.SagaStepFactory(saga=saga, completed=True)
    # The manager's compensate(): already under way, so nothing to do.
    assert manager.compensate(saga.pk, by="olga", reason="undo").state == SagaState.COMPENSATING
    # A door (act, strict): the operator is told.
    with pytest.raises(InvalidStateTransition, match="already being compensated"):
        manager.act("compensate", saga.pk, by="olga", reason="undo")
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_skip_step_takes_its_reason_by_keyword_like_its_siblings() -> None:
    saga = factories.halted_saga()
    with pytest.raises(TypeError):
        manager.skip_step(saga.pk, "ship", {}, "by hand")  # type: ignore[misc]
    skipped = manager.skip_step(saga.pk, "ship", {"tracking": "T1"}, by="olga", reason="by hand")
    assert skipped.step("ship").output == {"tracking": "T1"}


@pytest.mark.django_db
def test_whoever_is_named_as_acting_says_why():
    named = build_saga("failed")
    with pytest.raises(SagaDefinitionError, match="A reason is required"):
        manager.compensate(named.pk, by="clerk")
    with pytest.raises(SagaDefinitionError, match="A reason is required"):
        manager.compensate(named.pk, by="clerk", reason="   ")
    with pytest.raises(SagaDefinitionError, match="A reason is required"):
        manager.redrive([halted_saga().pk], rate=1, by="clerk")
    assert not Intervention.objects.exists()
    assert Saga.objects.get(pk=named.pk).state == "failed"


@pytest.mark.django_db
def test_code_that_names_no_one_may_act_without_a_reason_and_is_unattributed():
    saga = build_saga("failed")
    manager.compensate(saga.pk)
    [entry] = Intervention.objects.filter(saga_id=saga.pk)
    assert (entry.actor, entry.reason) == ("unattributed", "")
