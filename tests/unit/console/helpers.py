"""What the console's tests share: users, sagas built straight in the tables,
the pages' addresses and what to read off a response."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_saga import Step
from django_saga.actions import ACTIONS
from django_saga.models import Saga, SagaStep
from tests import factories
from tests.factories import SagaStepFactory

VIEW = "django_saga.view_saga"
COMPENSATE = "django_saga.compensate_saga"
RETRY = "django_saga.retry_saga_compensation"
RETRY_STEP = "django_saga.retry_saga_step"
SKIP_STEP = "django_saga.skip_saga_step"
REDRIVE = "django_saga.redrive_sagas"
VIEW_SCHEDULE = "django_saga.view_schedule"
PAUSE_SCHEDULE = "django_saga.pause_schedule"
TRIGGER_SCHEDULE = "django_saga.trigger_schedule"
#: What the schedules' pages and endpoints ask for, beside console access.
SCHEDULES = (VIEW_SCHEDULE, PAUSE_SCHEDULE, TRIGGER_SCHEDULE)
PAUSE_ACTIONS = "django_saga.pause_actions"
#: Every permission the console asks for: each action's (from its table) and more.
EVERYTHING = (VIEW, *(action.permission for action in ACTIONS), REDRIVE, *SCHEDULES, PAUSE_ACTIONS)

SHIP_ERROR = "RetryableError: ship: the service refuses attempt 2"

#: An array nested far deeper than Python's JSON reader can follow.
DEEP = "[" * 50_000 + "]" * 50_000


#: Steps (name, action, compensation, status) of a saga built directly in each state.
STEPS_FOR = {
    "started": [
        ("a", "test.record", "test.undo", "completed"),
        ("b", "test.record", "", "started"),
    ],
    "completed": [
        ("a", "test.record", "test.undo", "completed"),
        ("b", "test.record", "", "completed"),
    ],
    "failed": [("a", "test.record", "test.undo", "completed"), ("b", "test.fail", "", "failed")],
    "compensating": [
        ("a", "test.record", "test.undo", "compensating"),
        ("b", "test.fail", "", "failed"),
    ],
    "compensated": [
        ("a", "test.record", "test.undo", "compensated"),
        ("b", "test.fail", "", "failed"),
    ],
    "compensation_failed": [
        ("a", "test.record", "test.undo", "compensation_failed"),
        ("b", "test.fail", "", "failed"),
    ],
    "queued": [("a", "test.record", "test.undo", "pending"), ("b", "test.record", "", "pending")],
}


def build_saga(
    state: str = "failed",
    name: str = "order",
    *,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    updated_ago: timedelta | None = None,
) -> Saga:
    """A saga written straight to the tables, as the engine would have left it."""
    now = timezone.now()
    saga = Saga.objects.create(
        name=name,
        state=state,
        context={"customer": "c-1"},
        error=error if error is not None else ("step 'b' failed" if "fail" in state else ""),
        completed_at=now if state in ("completed", "compensated") else None,
    )
    for position, (step_name, action, compensation, status) in enumerate(STEPS_FOR[state]):
        ran = status not in ("pending", "started")
        SagaStep.objects.create(
            saga=saga,
            position=position,
            name=step_name,
            action=action,
            compensation=compensation,
            status=status,
            input={"step": step_name},
            output=(output or {"done": step_name}) if ran and status != "failed" else {},
            error="ValueError: b refuses" if status == "failed" else "",
            attempts=1,
            executed_at=now if ran else None,
            duration_ms=12 if ran else None,
            history=[
                {
                    "kind": "execute",
                    "attempt": 1,
                    "outcome": "failed" if status == "failed" else "completed",
                    "at": now.isoformat(),
                    "duration_ms": 12,
                    **({"error": "ValueError: b refuses"} if status == "failed" else {}),
                }
            ]
            if ran
            else [],
        )
    if updated_ago is not None:
        Saga.objects.filter(pk=saga.pk).update(
            created_at=now - updated_ago - timedelta(seconds=40), updated_at=now - updated_ago
        )
        saga.refresh_from_db()
    return saga


def make_user(django_user_model, *perms: str, staff: bool = True, name: str = "op"):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=staff)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def logged_in(user, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def urls_of(saga: Saga) -> dict[str, str]:
    return {
        "dashboard": reverse("django_saga:dashboard"),
        "detail": reverse("django_saga:detail", args=[saga.pk]),
        "confirm": reverse("django_saga:confirm-compensate", args=[saga.pk]),
        "api-list": reverse("django_saga:api-list"),
        "api-detail": reverse("django_saga:api-detail", args=[saga.pk]),
    }


def state_of(saga: Saga) -> str:
    return Saga.objects.get(pk=saga.pk).state


def halted_saga(name: str = "order", *, updated_ago: timedelta | None = None) -> Saga:
    """The step ``ship`` failed twice with ``SHIP_ERROR``; ``notify`` waits after it."""
    saga = factories.halted_saga(name, SHIP_ERROR, attempts=2, input={"parcel": "p-1"})
    SagaStepFactory(saga=saga, position=3, name="notify", compensation="")
    if updated_ago is not None:
        Saga.objects.filter(pk=saga.pk).update(updated_at=saga.updated_at - updated_ago)
    return saga


def shop() -> list[Step]:
    """Reserve (undoable), capture the payment (the pivot), ship (needs an operator)."""
    return [
        Step("reserve", "test.record", "test.undo"),
        Step("capture", "test.record", pivot=True),
        Step("ship", "test.needs_ok"),
    ]


def step_page(operation: str, saga: Saga, step: str) -> str:
    """The console's page retrying or skipping the step named ``step``."""
    step_id = SagaStep.objects.get(saga=saga, name=step).pk
    return reverse(f"django_saga:{operation}", args=[saga.pk, step_id])


def api(operation: str, saga: Saga, step: str) -> str:
    """The JSON endpoint that retries or skips (``operation``) a step, by name or id."""
    return reverse(f"django_saga:api-{operation}-step", args=[saga.pk, step])


def post_json(client: Client, url: str, body: Any) -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, text, content_type="application/json")


def shown_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def field_errors(html: str, field: str) -> str:
    """The errors shown under one form field ("" if none)."""
    found = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return found[1] if found else ""


def step_of(saga: Saga, name: str) -> SagaStep:
    return SagaStep.objects.get(saga=saga, name=name)
