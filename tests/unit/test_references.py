"""django_saga.references: a value named by a reference, read from the saga."""

from __future__ import annotations

import pytest

from django_saga import SagaDefinitionError
from django_saga.models import Saga, SagaStep
from django_saga.references import read, reference


def saga() -> Saga:
    saga = Saga(name="order", context={"order": {"lines": [1, 2]}, "days": 3})
    load = SagaStep(saga=saga, position=0, name="load", output={"items": ["a"], "n": {"x": 1}})
    saga.set_steps([load])
    return saga


def test_a_reference_reads_the_context_or_an_earlier_steps_output_going_deeper_by_dots():
    assert read(saga(), "context.days", "here") == 3
    assert read(saga(), "context.order.lines", "here") == [1, 2]
    assert read(saga(), "load.items", "here") == ["a"]
    assert read(saga(), "load.n.x", "here") == 1


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("context.missing", "map 'm' reads 'context.missing': the saga's context has no 'missing'"),
        ("context.days.x", "the saga's context has no 'x'"),
        ("ship.items", "the saga has no step 'ship'"),
        ("load.other", "the output of step 'load' has no 'other'"),
    ],
)
def test_what_a_reference_cannot_find_is_named(ref, message):
    with pytest.raises(SagaDefinitionError, match=message):
        read(saga(), ref, "map 'm'")


@pytest.mark.parametrize("value", ["items", "context.", ".x", 3, None])
def test_a_reference_is_a_dotted_name(value):
    with pytest.raises(SagaDefinitionError, match=r"must be a reference like 'context\.key'"):
        reference(value, "The list")
    assert reference("context.items", "The list") == "context.items"
