"""E-mail for the people a task waits for, sent through Django's mail
backend when a task is made or escalated (the console backend prints it,
in the demo)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse

from django_saga import signals

SENDER = "shop@example.com"


def mail_whom_it_waits_for(sender: Any, task: Any, saga: Any, step: Any, **kwargs: Any) -> None:
    """Tell each active member of the groups the task is offered to, by e-mail."""
    groups = [offer.name for offer in task.offers.filter(kind="group")]
    people = get_user_model().objects.filter(groups__name__in=groups, is_active=True)
    addresses = sorted({user.email for user in people if user.email})
    if not addresses:
        return
    shown = "\n".join(f"{label}: {value}" for label, value in task.shown.items())
    send_mail(
        f"Waiting for you: {task.title}",
        f"{shown}\n\nAnswer it at {reverse('django_saga:task', args=[task.pk])}",
        SENDER,
        addresses,
    )


def connect() -> None:
    """Mail when a task is offered, and again when it is offered to others."""
    for signal in (signals.task_created, signals.task_escalated):
        signal.connect(mail_whom_it_waits_for, dispatch_uid=f"shop-mail-{id(signal)}")
