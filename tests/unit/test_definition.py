"""django_saga.definition: a saga declared once, started many times."""

from __future__ import annotations

import pytest

from django_saga import SagaAlreadyActive, SagaDefinition, Step, definition, manager, steps
from django_saga.api import Manager
from django_saga.errors import LimitExceeded
from django_saga.models import Saga
from django_saga.stores.memory import MemoryStore
from tests.unit.helpers import nothing_recorded

pytestmark = pytest.mark.django_db


def test_a_definitions_version_that_does_not_fit_is_refused():
    from django_saga import SagaDefinition

    class Versioned(SagaDefinition):
        name = "versioned"
        version = "v" * 51

        def steps(self):
            return [Step("a", "test.record")]

    with pytest.raises(LimitExceeded, match="definition's version"):
        Versioned().start()
    assert nothing_recorded()


class Refund(SagaDefinition):
    name = "refund"
    version = 3

    def steps(self):
        return [
            Step("reverse", "test.record", "test.undo", {"order": self.params["order"]}),
            Step("notify", "test.record"),
        ]

    def key(self):
        return f"order-{self.params['order']}"


def test_start_records_the_definitions_path_version_key_and_params():
    saga = Refund(order=7).start()
    loaded = manager.get(saga.id)
    assert (loaded.name, loaded.definition, loaded.version) == ("refund", f"{__name__}.Refund", "3")
    assert (loaded.key, loaded.context) == ("order-7", {"order": 7})
    assert [(s.name, s.input) for s in loaded.steps] == [("reverse", {"order": 7}), ("notify", {})]


def test_starting_again_with_the_key_of_an_unfinished_saga_returns_it_or_raises():
    first = Refund(order=7).start()
    again = Refund(order=7).start()
    assert (again.id, first.created, again.created) == (first.id, True, False)
    with pytest.raises(SagaAlreadyActive) as refused:
        Refund(order=7).start(if_active="raise")
    assert refused.value.saga.id == first.id
    assert Refund(order=8).start().id != first.id


def test_start_goes_through_the_manager_it_is_given():
    store = MemoryStore()
    saga = Refund(order=7).start(manager=Manager(store), deadline=60)
    assert store.load_saga(saga.id).deadline_at is not None
    assert not Saga.objects.exists()


def test_the_step_language_is_importable_from_the_definitions_module():
    assert (definition.Step, definition.parallel) == (steps.Step, steps.parallel)
    assert issubclass(SagaDefinition, steps.BaseDefinition)
