"""The admin's users: an operator who may run every action, a viewer, a superuser."""

from __future__ import annotations

import pytest

from tests.unit.console.helpers import COMPENSATE, REDRIVE, RETRY, RETRY_STEP, VIEW, make_user


@pytest.fixture
def operator(django_user_model):
    return make_user(
        django_user_model, VIEW, COMPENSATE, RETRY, RETRY_STEP, REDRIVE, name="operator"
    )


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw")
