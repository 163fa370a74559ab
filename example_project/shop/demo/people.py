"""What the demo asks of people: a refund manager approves one refund from
her inbox, and a refund nobody answers in time goes to the shop's directors,
waiting in their inbox when the demo ends.

The demo's refunds all ask for approval, and on the second the managers get
a second, not four hours, before the directors are asked: the shop's
settings, changed for the demo only. The first is approved through the
manager, or by whatever the caller passes (the browser test logs in as the
manager and approves it in the inbox).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test.utils import override_settings
from django.urls import reverse

from django_saga.api import manager
from django_saga.models import Saga, SagaTask
from example_project.shop.models import Order, Payment
from example_project.shop.refunds import request_refund

MANAGER, DIRECTOR = "demo-manager", "demo-director"
#: The demo users' password: they exist to log in to the demo's inbox.
PASSWORD = "demo"
#: Seconds a refund manager has, in the demo, before the directors are asked.
APPROVAL_SECONDS = 1.0
WHY = "the customer sent the parcel back"


def demo_people() -> None:
    """A refund manager and a director to log in as (password ``demo``)."""
    for name, group in ((MANAGER, "refund-managers"), (DIRECTOR, "shop-directors")):
        user, made = get_user_model().objects.get_or_create(username=name)
        if made:
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get_or_create(name=group)[0])


def approve_as_manager(task: SagaTask) -> None:
    """The demo's manager approves ``task`` (as she would in her inbox)."""
    manager.complete_task(task.pk, {"comment": "parcel received"}, by=MANAGER, reason=WHY)


def ask_people(
    completed: Iterable[str],
    timeout: float,
    approve: Callable[[SagaTask], None] = approve_as_manager,
) -> tuple[list[str], bool]:
    """Refund two of the completed orders: one approved by the manager
    (``approve`` answers its task), one left until it goes to the directors.
    The lines saying how, and whether both went as they should."""
    demo_people()
    orders = list(
        Order.objects.filter(
            saga_id__in=list(completed), payment__status=Payment.Status.CHARGED
        ).order_by("pk")[:2]
    )
    if len(orders) < 2:
        return ["Refunds: fewer than two paid orders to refund; none asked"], False
    first, second = orders
    with override_settings(SHOP_REFUND_APPROVAL_ABOVE=0):
        refunds = [request_refund(first, first.payment.amount, WHY)]
        with override_settings(SHOP_REFUND_APPROVAL_HOURS=APPROVAL_SECONDS / 3600):
            refunds.append(request_refund(second, second.payment.amount, WHY))
    tasks = [_task_of(saga, timeout) for saga in refunds]
    approve(tasks[0])
    approved = _ended(refunds[0], timeout)
    escalated = _escalated(tasks[1], timeout)
    lines = [
        f"Refund of {first.number} ({first.payment.amount}): waited for a refund manager, "
        f"approved by {MANAGER} ({approved.state}; payment "
        f"{Payment.objects.get(order=first).status})",
        f"Refund of {second.number} ({second.payment.amount}): nobody approved it within "
        f"{APPROVAL_SECONDS:g} s, so it waits for the directors: log in as {DIRECTOR} "
        f"(password {PASSWORD}) and answer it at {reverse('django_saga:task', args=[tasks[1].pk])}",
    ]
    ok = approved.state == "completed" and escalated
    return lines, ok


def _task_of(saga: Saga, timeout: float) -> SagaTask:
    deadline = time.monotonic() + timeout
    while (task := SagaTask.objects.filter(saga_id=saga.pk).first()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"refund saga {saga.pk} made no task in {timeout:g} s")
        time.sleep(0.05)
    return task


def _ended(saga: Saga, timeout: float) -> Saga:
    deadline = time.monotonic() + timeout
    while (found := manager.get(saga.pk)).state in ("started", "compensating"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return found


def _escalated(task: SagaTask, timeout: float) -> bool:
    """Whether the engine's sweeper offered ``task`` to the directors in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task.refresh_from_db()
        if task.escalations:
            return bool(task.offers.filter(name="shop-directors").exists())
        time.sleep(0.1)
    return False
