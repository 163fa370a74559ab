"""Fixtures of the console's tests: users holding what each kind of operator
holds, and the schedules' test clock."""

import pytest

from django_saga.testing import SagaTestKit
from tests.unit.console.helpers import COMPENSATE, RETRY, SCHEDULES, VIEW, make_user
from tests.unit.schedules.helpers import START


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, VIEW, COMPENSATE, RETRY, name="operator")


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")


@pytest.fixture
def scheduler(django_user_model):
    """May see the schedules, pause, resume and run them."""
    return make_user(django_user_model, VIEW, *SCHEDULES, name="scheduler")


@pytest.fixture
def kit():
    """The test clock at the schedule tests' ``START``, and the engine in this thread."""
    with SagaTestKit(START) as kit:
        yield kit
