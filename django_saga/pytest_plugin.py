"""The ``saga_kit`` pytest fixture (pytest-django). Opt in from a conftest.py:

    pytest_plugins = ["django_saga.pytest_plugin"]

Not loaded by an entry point: a project with django-saga installed gets no
fixture, and no Django import at pytest's start, that it did not ask for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import SagaTestKit


@pytest.fixture
def saga_kit(db: None) -> Iterator[SagaTestKit]:
    """A ``SagaTestKit``, installed for the test. With ``transactional_db`` (or
    ``django_db(transaction=True)``) too, the test's units really commit."""
    from .testing import SagaTestKit

    with SagaTestKit() as kit:
        yield kit
