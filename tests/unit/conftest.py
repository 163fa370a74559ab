"""Fixtures of the unit tests: the per-store fixture is shared with the in-process tests;
sagas that share a business key, which the console, the admin and the command find; an
operator who may run every action, through the console's doors or the operator layer's;
the owner of API tokens, made in the console, the admin or the command line."""

import pytest

from django_saga.models import Saga
from tests.in_process.conftest import store  # noqa: F401  (one test runs on each store)
from tests.unit.console.helpers import COMPENSATE, EVERYTHING, VIEW, build_saga, make_user


@pytest.fixture(params=["without", "with"])
def csrf_middleware(request, settings):  # type: ignore[no-untyped-def]
    """Each CSRF test runs without and with the project's CSRF middleware."""
    if request.param == "with":
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.csrf.CsrfViewMiddleware"]
    return request.param


@pytest.fixture
def sagas() -> dict[str, Saga]:
    """Two sagas of one order (the first compensated), and one of another."""
    first = build_saga("compensated", name="order")
    again = build_saga("started", name="order")
    other = build_saga("started", name="order")
    Saga.objects.filter(pk__in=[first.pk, again.pk]).update(key="order-123")
    Saga.objects.filter(pk=other.pk).update(key="order-124")
    return {"first": first, "again": again, "other": other}


@pytest.fixture
def repairer(django_user_model):
    """A staff user who may view, compensate, retry, skip and re-drive."""
    return make_user(django_user_model, *EVERYTHING, name="repairer")


@pytest.fixture
def deployer(django_user_model):
    """A staff user who may view and compensate, and makes API tokens for a pipeline."""
    return make_user(django_user_model, VIEW, COMPENSATE, name="deployer")
