"""The schedule tests' kit: on a test clock set at a known time."""

from __future__ import annotations

import pytest

from django_saga.testing import SagaTestKit

from .helpers import START


@pytest.fixture
def kit():
    with SagaTestKit(START) as kit:
        yield kit
