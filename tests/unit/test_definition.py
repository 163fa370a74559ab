"""django_saga.definition: a saga declared once, started many times."""

from __future__ import annotations

import pytest

from django_saga import Step
from django_saga.errors import LimitExceeded
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
