"""The ``kit`` fixture: a SagaTestKit installed for the test."""

from __future__ import annotations

import pytest

from django_saga.testing import SagaTestKit


@pytest.fixture
def kit():
    with SagaTestKit() as kit:
        yield kit
