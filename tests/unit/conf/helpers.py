"""What the tests of django_saga.conf share: setting values of SAGA, and reading the checks."""

from __future__ import annotations

from django.core.checks import run_checks


def saga(settings, **values):
    settings.SAGA = {**settings.SAGA, **values}


def saga_errors():
    return [e for e in run_checks() if e.id and e.id.startswith("django_saga.")]


#: A password that must never show in a check's message or an error page.
PASSWORD = "hunter2-not-for-logs"

CLUSTER = ["amqp://saga@mq1:5672/%2F", "amqp://saga@mq2:5672/%2F", "amqp://saga@mq3:5672/%2F"]
