"""The example project's settings: what a project serving the console should set."""

from __future__ import annotations


def test_the_example_project_has_djangos_standard_security_middleware():
    from example_project import settings as example

    for middleware in (
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ):
        assert middleware in example.MIDDLEWARE
