"""Fixtures of the unit tests: the per-store fixture is shared with the in-process tests."""

import pytest

from tests.in_process.conftest import store  # noqa: F401  (one test runs on each store)


@pytest.fixture(params=["without", "with"])
def csrf_middleware(request, settings):  # type: ignore[no-untyped-def]
    """Each CSRF test runs without and with the project's CSRF middleware."""
    if request.param == "with":
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.csrf.CsrfViewMiddleware"]
    return request.param
