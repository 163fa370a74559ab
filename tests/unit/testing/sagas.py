"""The handlers and step lists the tests of django_saga.testing run sagas of."""

from __future__ import annotations

from django_saga import (
    Pending,
    RetryableError,
    RetryPolicy,
    Skip,
    Step,
    compensation_handler,
    step_handler,
)
from tests.testapp.models import Ledger

MINUTE = 60.0


@step_handler("kit.reserve")
def reserve(saga, step):
    Ledger.objects.create(step_id=step.id, action="reserve")
    return {"reserved": True}


@compensation_handler("kit.release")
def release(saga, step):
    Ledger.objects.create(step_id=step.id, action="release")


@step_handler(
    "kit.charge", retry=RetryPolicy(max_attempts=3, backoff=MINUTE, max_delay=3600, jitter=0.5)
)
def charge(saga, step):
    if step.attempts <= step.input.get("fail_times", 0):
        raise RetryableError(f"the bank is busy (attempt {step.attempts})")
    return {"charged": step.attempts}


@compensation_handler("kit.refund")
def refund(saga, step):
    Ledger.objects.create(step_id=step.id, action="refund")


@step_handler("kit.await_payment", retry=RetryPolicy(max_attempts=1))
def await_payment(saga, step):
    return Pending({"ref": f"pay-{step.attempts}"}, timeout=step.input.get("wait"))


@step_handler("kit.wrap")
def wrap(saga, step):
    return {"wrapped": True} if saga.context.get("gift") else Skip("no gift")


@step_handler("kit.explode")
def explode(saga, step):
    raise ValueError("the warehouse is on fire")


def order_steps(fail_times: int = 1, wait: float | None = 15 * MINUTE) -> list[Step]:
    return [
        Step("reserve", "kit.reserve", "kit.release"),
        Step("charge", "kit.charge", "kit.refund", {"fail_times": fail_times}),
        Step("payment", "kit.await_payment", input={"wait": wait}),
    ]


def failing_steps() -> list[Step]:
    return [Step("reserve", "kit.reserve", "kit.release"), Step("ship", "kit.explode")]
