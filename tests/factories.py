"""factory-boy factories: sagas and steps in any state, for tests that need rows, not runs."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from django_saga.models import SLEEP_ACTION, Saga, SagaState, SagaStep, StepStatus


class SagaFactory(factory.django.DjangoModelFactory):
    """A saga row; one trait per state, e.g. ``SagaFactory(compensated=True)``."""

    class Meta:
        model = Saga

    name = factory.Sequence(lambda n: f"saga-{n}")
    state = SagaState.STARTED
    context = factory.LazyFunction(dict)

    class Params:
        completed = factory.Trait(
            state=SagaState.COMPLETED, completed_at=factory.LazyFunction(timezone.now)
        )
        failed = factory.Trait(state=SagaState.FAILED, error="step 'charge' failed: declined")
        compensating = factory.Trait(state=SagaState.COMPENSATING)
        compensated = factory.Trait(
            state=SagaState.COMPENSATED,
            error="step 'charge' failed: declined",
            completed_at=factory.LazyFunction(timezone.now),
        )
        compensation_failed = factory.Trait(
            state=SagaState.COMPENSATION_FAILED,
            error="compensation of step 'charge' failed: refund service down",
        )


class SagaStepFactory(factory.django.DjangoModelFactory):
    """A step row of ``saga`` (a new saga unless given), in position order."""

    class Meta:
        model = SagaStep

    saga = factory.SubFactory(SagaFactory)
    position = factory.Sequence(lambda n: n)
    stage = factory.LazyAttribute(lambda step: step.position)
    name = factory.LazyAttribute(lambda step: f"step-{step.position}")
    action = "test.record"
    compensation = "test.undo"
    input = factory.LazyFunction(dict)
    status = StepStatus.PENDING

    class Params:
        completed = factory.Trait(
            status=StepStatus.COMPLETED, attempts=1, executed_at=factory.LazyFunction(timezone.now)
        )
        failed = factory.Trait(status=StepStatus.FAILED, attempts=1, error="ValueError: declined")
        waiting = factory.Trait(
            status=StepStatus.WAITING,
            attempts=1,
            output=factory.LazyFunction(lambda: {"ref": "ext-1"}),
            executed_at=factory.LazyFunction(timezone.now),
        )
        sleeping = factory.Trait(
            action=SLEEP_ACTION,
            compensation="",
            input=factory.LazyFunction(lambda: {"seconds": 3600}),
            status=StepStatus.STARTED,
            attempts=1,
            started_at=factory.LazyFunction(timezone.now),
            timeout_at=factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1)),
        )
        compensated = factory.Trait(
            status=StepStatus.COMPENSATED,
            attempts=1,
            compensation_attempts=1,
            compensated_at=factory.LazyFunction(timezone.now),
        )


def halted_saga(name: str = "order", error: str = "carrier down", **ship: object) -> Saga:
    """A saga past its pivot ``capture`` whose step ``ship`` failed for good with
    ``error``, as an engine leaves it; ``ship`` sets more fields of that step."""
    saga = SagaFactory(
        name=name,
        state="halted",
        error=f"step 'ship' failed after pivot step 'capture' completed: {error}",
    )
    SagaStepFactory(saga=saga, position=0, name="reserve", completed=True)
    SagaStepFactory(
        saga=saga, position=1, name="capture", compensation="", pivot=True, completed=True
    )
    SagaStepFactory(
        saga=saga,
        position=2,
        name="ship",
        action="test.needs_ok",
        compensation="",
        failed=True,
        error=error,
        **ship,
    )
    return saga
