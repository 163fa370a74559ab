"""Callers of the console's JSON API and of the webhook: API tokens made as
``manage.py saga token create`` makes them, users, and a world of sagas in the
states the endpoints act on with a caller of each kind."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from django_saga import Task, manager, webhook
from django_saga.actions.tasks import ANY_TASK_PERMISSION
from django_saga.models import (
    TASK_ACTION,
    OfferKind,
    Saga,
    SagaStep,
    SagaTask,
    Schedule,
    TaskOffer,
)
from tests.factories import SagaFactory, SagaStepFactory, halted_saga
from tests.testapp.forms import RefundDecisionForm
from tests.unit.console.helpers import EVERYTHING, VIEW, build_saga
from tests.unit.schedules.helpers import make


def saga(*args: str) -> tuple[str, str]:
    """``manage.py saga ARGS`` in this process: what it printed on stdout and stderr."""
    out, err = StringIO(), StringIO()
    call_command("saga", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def create_token(username: str, name: str = "deploys") -> str:
    out, _ = saga("token", "create", "--user", username, "--name", name)
    return out.strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


#: What ``saga token create`` prints: the prefix, then the secret.
TOKEN_SHAPE = re.compile(r"^dsg_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


def api_url(saga_id: str = "", action: str = "") -> str:
    """The JSON API's address of the list, of a saga, or of an action on it."""
    if not saga_id:
        return reverse("django_saga:api-list")
    if not action:
        return reverse("django_saga:api-detail", args=[saga_id])
    return reverse(f"django_saga:api-{action}", args=[saga_id])


SECRET = "openapi-test-secret-of-at-least-32-characters"


def make_user(django_user_model: Any, *perms: str, name: str, staff: bool = True) -> Any:
    """A user holding ``perms``, without a password: hashing one costs a quarter second."""
    user = django_user_model.objects.create(username=name, is_staff=staff)
    user.user_permissions.add(
        *(
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in (perm.split(".") for perm in perms)
        )
    )
    return user


#: Where the test project serves the OpenAPI document.
OPENAPI_URL = "/sagas/api/openapi.json"


@dataclass
class World:
    """Sagas in the states the endpoints act on, schedules (``nightly``;
    ``paused``; ``broken``, whose saga cannot start), and callers of each kind."""

    root: Client  # a token of a user holding every permission
    session: Client  # that user's session, with Django's CSRF check on
    viewer: Client  # a token that may view the console, and nothing more
    anonymous: Client
    sagas: dict[str, Saga]
    batch: str
    pay: SagaStep
    token: str
    #: Tasks offered to the group refund-managers (open, claimed by root,
    #: completed), and a member of that group.
    task: str = ""
    claimed_task: str = ""
    closed_task: str = ""
    clerk: Client | None = None


def make_world(django_user_model: Any, settings: Any) -> World:
    """Sagas and callers for the exchanges (each test module's ``world`` fixture)."""
    settings.SAGA = {**settings.SAGA, "WEBHOOK_SECRET": SECRET}
    root = make_user(django_user_model, *EVERYTHING, ANY_TASK_PERMISSION, name="root")
    make_user(django_user_model, VIEW, name="viewer")
    session = Client(enforce_csrf_checks=True)
    session.force_login(root)
    redriven = halted_saga(name="redriven")
    batch = manager.redrive([redriven.pk], rate=1, by=root, reason="carrier back").batch
    waiting = SagaFactory(name="payment", key="order-7")
    pay = SagaStepFactory(saga=waiting, position=0, name="pay", waiting=True)
    sleeping = SagaFactory(name="reminder")
    SagaStepFactory(saga=sleeping, position=0, name="cool_off", sleeping=True)
    sagas = {
        "halted": halted_saga(),
        "failed": build_saga("failed"),
        "compensation_failed": build_saga("compensation_failed"),
        "waiting": waiting,
        "sleeping": sleeping,
        "completed": build_saga("completed"),
        "paused": build_saga("failed"),
    }
    manager.pause_saga(sagas["paused"].pk, by=root, reason="provider outage")
    manager.pause(name="nightly", by=root, reason="a pause of saga names in force")
    make("nightly", cron="0 2 * * *", timezone="Europe/Berlin")
    make("paused", every=3600)
    manager.pause_schedule("paused", by=root, reason="warehouse closed")
    # A schedule whose saga cannot start: its definition moved away.
    make("broken", every=3600)
    Schedule.objects.filter(name="broken").update(definition="tests.testapp.sagas.Nowhere")
    token = create_token("root")
    task, claimed, closed = (_task(n) for n in range(3))
    SagaTask.objects.filter(pk=claimed).update(state="claimed", claimed_by="root")
    SagaTask.objects.filter(pk=closed).update(state="completed", done_by="root")
    TaskOffer.objects.filter(task_id=closed).delete()
    clerk = make_user(django_user_model, name="clerk", staff=False)
    clerk.groups.add(Group.objects.get_or_create(name="refund-managers")[0])
    return World(
        root=Client(headers={"Authorization": f"Bearer {token}"}),
        session=session,
        viewer=Client(headers={"Authorization": f"Bearer {create_token('viewer')}"}),
        anonymous=Client(),
        sagas=sagas,
        batch=batch,
        pay=pay,
        token=token,
        task=task,
        claimed_task=claimed,
        closed_task=closed,
        clerk=Client(headers={"Authorization": f"Bearer {create_token('clerk')}"}),
    )


def _task(n: int) -> str:
    """A saga waiting at a task step for the group refund-managers: its task's id."""
    declared = Task("approve", form=RefundDecisionForm, candidates=["refund-managers"])
    saga = SagaFactory(name="refund", key=f"refund-{n}")
    step = SagaStepFactory(
        saga=saga, position=0, name="approve", waiting=True, action=TASK_ACTION,
        input=dict(declared.input),
    )  # fmt: skip
    task = SagaTask.objects.create(
        saga=saga, step=step, attempt=step.attempts, title="Approve", form=declared.input["form"]
    )
    TaskOffer.objects.create(task=task, kind=OfferKind.GROUP, name="refund-managers")
    return task.pk


def api(world: World, saga: str = "", tail: str = "") -> str:
    return f"/sagas/api/sagas/{world.sagas[saga].pk}/{tail}" if saga else "/sagas/api/sagas/"


def post_json(client: Client, url: str, body: object, **extra: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def report(world: World, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    """POST a webhook report on ``pay``, signed now unless ``headers`` are given."""
    body = {
        "saga_id": world.sagas["waiting"].pk,
        "step_id": "pay",
        "attempt": 1,
        "status": "completed",
        "output": {"charge": "ch_1"},
        **fields,
    }
    raw = json.dumps({k: v for k, v in body.items() if v is not None}).encode()
    signed = webhook.signature_headers(raw, SECRET) if headers is None else headers
    return Client().post("/sagas/webhook/", raw, content_type="application/json", headers=signed)


def session_post(world: World, url: str, body: object) -> Any:
    """POST as the logged-in session, with the CSRF cookie and its header."""
    world.session.cookies["csrftoken"] = CSRF
    return post_json(world.session, url, body, HTTP_X_CSRFTOKEN=CSRF)


CSRF = "csrf" * 8


def reason(text: str = "ticket OPS-1") -> dict[str, str]:
    return {"reason": text}


def _unavailable(world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    def down(*args: Any, **kwargs: Any) -> bool:
        raise OperationalError("connection refused")

    monkeypatch.setattr(manager, "record_outside_result", down)
    return report(world, report_token=world.pay.report_token)
