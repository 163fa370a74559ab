"""What the admin's tests share: its URLs, and running an action on the saga list
as an operator does (choose it, then confirm it)."""

from __future__ import annotations

from django.urls import reverse

from django_saga.models import Saga
from tests import factories

CHANGELIST = reverse("admin:django_saga_saga_changelist")
TRAIL = reverse("admin:django_saga_intervention_changelist")
CONFIRMATION = "admin/django_saga/saga/action_confirmation.html"


def change_url(saga: Saga) -> str:
    return reverse("admin:django_saga_saga_change", args=[saga.pk])


def state_of(saga: Saga) -> str:
    return Saga.objects.get(pk=saga.pk).state


def choose_action(client, action: str, *sagas: Saga):
    """Pick the action in the list's menu: the admin answers with its confirmation page."""
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [s.pk for s in sagas], "index": 0}
    )


def confirm_action(client, action: str, *sagas: Saga, **fields):
    """Post the confirmation page back, as its "Yes" button does."""
    data = {"action": action, "_selected_action": [s.pk for s in sagas], "post": "yes", **fields}
    return client.post(CHANGELIST, data, follow=True)


def run_action(client, action: str, *sagas: Saga, reason: str = "the service is back", **fields):
    page = choose_action(client, action, *sagas)
    assert page.status_code == 200
    assert CONFIRMATION in [t.name for t in page.templates]
    return confirm_action(client, action, *sagas, reason=reason, **fields)


def halted_saga(name: str = "order") -> Saga:
    return factories.halted_saga(name, input={"address": "old"})


def shown_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]
