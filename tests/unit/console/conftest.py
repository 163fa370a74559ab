"""Fixtures of the console's tests: users holding what each kind of operator holds."""

import pytest

from tests.unit.console.helpers import COMPENSATE, RETRY, VIEW, make_user


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, VIEW, COMPENSATE, RETRY, name="operator")


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")
