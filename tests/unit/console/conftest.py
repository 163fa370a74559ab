"""Fixtures of the console's tests: users holding what each kind of operator
holds, and sagas that share a business key."""

import pytest

from django_saga.models import Saga
from tests.unit.console.helpers import COMPENSATE, EVERYTHING, RETRY, VIEW, build_saga, make_user


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, VIEW, COMPENSATE, RETRY, name="operator")


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, VIEW, name="viewer")


@pytest.fixture
def repairer(django_user_model):
    return make_user(django_user_model, *EVERYTHING, name="repairer")


@pytest.fixture
def sagas() -> dict[str, Saga]:
    """Two sagas of one order (the first compensated), and one of another."""
    first = build_saga("compensated", name="order")
    again = build_saga("started", name="order")
    other = build_saga("started", name="order")
    Saga.objects.filter(pk__in=[first.pk, again.pk]).update(key="order-123")
    Saga.objects.filter(pk=other.pk).update(key="order-124")
    return {"first": first, "again": again, "other": other}
